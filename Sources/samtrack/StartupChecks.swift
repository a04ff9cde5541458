// StartupChecks: one-line warnings the compute commands (track, segment, bench) print to stderr
// before they start, about settings that make them slow.

import Foundation
import Tensor

/// Prints the `OPENBLAS_CORETYPE` warning (`OpenBLASCoreType.startupWarning`) when there is one.
func warnAboutSlowSettings() {
    if let warning = OpenBLASCoreType.startupWarning {
        FileHandle.standardError.write(Data("samtrack: \(warning)\n".utf8))
    }
}
