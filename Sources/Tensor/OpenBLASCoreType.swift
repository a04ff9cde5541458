// OpenBLASCoreType: notices when `OPENBLAS_CORETYPE` forces OpenBLAS onto an older kernel set than
// the CPU runs (for example `Haswell`, AVX2, on a CPU with AVX-512): every GEMM then runs at up to
// half speed. The executables print `startupWarning` to stderr when they start.
//
// The check compares instruction-set levels: the level of the named kernel set (OpenBLAS's x86-64
// DYNAMIC_ARCH names, compared case-insensitively as OpenBLAS does) with the best level the CPU's
// flags (/proc/cpuinfo) allow. Unknown names (other architectures, typos) are left alone.

import Foundation

/// The `OPENBLAS_CORETYPE` check.
public enum OpenBLASCoreType {
    /// Instruction-set levels of OpenBLAS's x86-64 kernel sets, oldest first.
    public enum Level: Int, Comparable, Sendable, CaseIterable {
        case sse, avx, avxFMA, avx2, avx512, avx512BF16, amx

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        /// The instruction set, as a user would recognise it.
        public var description: String {
            switch self {
            case .sse: return "SSE"
            case .avx: return "AVX"
            case .avxFMA: return "AVX with FMA"
            case .avx2: return "AVX2"
            case .avx512: return "AVX-512"
            case .avx512BF16: return "AVX-512 BF16"
            case .amx: return "AMX"
            }
        }
    }

    /// The level of an OpenBLAS x86-64 core name (as `OPENBLAS_CORETYPE` accepts them), nil if unknown.
    public static func level(ofCore name: String) -> Level? {
        switch name.trimmingCharacters(in: .whitespaces).lowercased() {
        case "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn", "dunnington",
             "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano", "bobcat":
            return .sse
        case "sandybridge", "bulldozer": return .avx
        case "piledriver", "steamroller": return .avxFMA
        case "haswell", "excavator", "zen": return .avx2
        case "skylakex": return .avx512
        case "cooperlake": return .avx512BF16
        case "sapphirerapids": return .amx
        default: return nil
        }
    }

    /// The best level a CPU with these /proc/cpuinfo flags runs.
    public static func level(ofCPUFlags flags: Set<String>) -> Level {
        let avx512 = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
        if avx512 && flags.contains("avx512_bf16") && flags.contains("amx_tile") { return .amx }
        if avx512 && flags.contains("avx512_bf16") { return .avx512BF16 }
        if avx512 { return .avx512 }
        if flags.contains("avx2") && flags.contains("fma") { return .avx2 }
        if flags.contains("avx") && flags.contains("fma") { return .avxFMA }
        if flags.contains("avx") { return .avx }
        return .sse
    }

    /// The one-line warning for `coreType` (the variable's value, nil when unset) on a CPU with
    /// `cpuFlags`, or nil when there is nothing to say (unset, unknown name, or not older).
    public static func warning(coreType: String?, cpuFlags: Set<String>) -> String? {
        guard let coreType, !coreType.isEmpty, let forced = level(ofCore: coreType) else { return nil }
        let cpu = level(ofCPUFlags: cpuFlags)
        if forced < cpu {
            return "warning: OPENBLAS_CORETYPE=\(coreType) forces OpenBLAS's \(forced.description) kernels on a CPU "
                + "with \(cpu.description), so matrix products run slower; unset it (unset OPENBLAS_CORETYPE) "
                + "to let OpenBLAS pick its kernels"
        }
        if forced > cpu {
            return "warning: OPENBLAS_CORETYPE=\(coreType) asks for \(forced.description) kernels, which this CPU "
                + "(\(cpu.description)) lacks; unset it (unset OPENBLAS_CORETYPE) to let OpenBLAS pick its kernels"
        }
        return nil
    }

    /// The flags of the first processor in /proc/cpuinfo (nil where there is no such file).
    public static func cpuFlags(cpuinfo path: String = "/proc/cpuinfo") -> Set<String>? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return nil
    }

    /// The warning for this process's environment and CPU, or nil.
    public static var startupWarning: String? {
        guard let coreType = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
              let flags = cpuFlags() else { return nil }
        return warning(coreType: coreType, cpuFlags: flags)
    }
}
