#ifndef SAMTRACK_COPENBLAS_SHIM_H
#define SAMTRACK_COPENBLAS_SHIM_H
// OpenBLAS's CBLAS interface plus the OpenBLAS control functions (thread count, core name).
#include <cblas.h>
#endif
