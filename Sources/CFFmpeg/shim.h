#ifndef SAMTRACK_CFFMPEG_SHIM_H
#define SAMTRACK_CFFMPEG_SHIM_H
// FFmpeg's C API for Swift. Debian packages: libavformat-dev libavcodec-dev libswscale-dev
// libavutil-dev libavdevice-dev. Function-like macros that Swift cannot import are re-exported
// below as inline functions and constants.
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/dict.h>

/// AVERROR(e) for a POSIX errno value (FFmpeg returns negated errno codes).
static inline int samtrack_averror(int errnum) { return AVERROR(errnum); }
/// AVERROR_EOF: end of stream.
static inline int samtrack_averror_eof(void) { return AVERROR_EOF; }
/// AVERROR(EAGAIN): output not available in this state; send more input.
static inline int samtrack_averror_eagain(void) { return AVERROR(EAGAIN); }
/// AVERROR_INVALIDDATA: invalid data found when processing input.
static inline int samtrack_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
/// AV_NOPTS_VALUE: undefined timestamp.
static inline int64_t samtrack_nopts_value(void) { return AV_NOPTS_VALUE; }
/// av_err2str as a function writing into a caller buffer.
static inline const char *samtrack_error_string(int errnum, char *buffer, size_t size) {
    av_strerror(errnum, buffer, size);
    return buffer;
}
#endif
