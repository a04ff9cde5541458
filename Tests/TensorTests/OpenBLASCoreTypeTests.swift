// OpenBLASCoreType (Sources/Tensor/OpenBLASCoreType.swift): the OPENBLAS_CORETYPE warning appears
// only when the named kernel set is older (or newer) than what the CPU's flags allow.

import XCTest
import Tensor

final class OpenBLASCoreTypeTests: XCTestCase {
    let avx2: Set<String> = ["sse4_2", "avx", "avx2", "fma"]
    var avx512: Set<String> { avx2.union(["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) }

    func testLevels() {
        XCTAssertEqual(OpenBLASCoreType.level(ofCPUFlags: avx2), .avx2)
        XCTAssertEqual(OpenBLASCoreType.level(ofCPUFlags: avx512), .avx512)
        XCTAssertEqual(OpenBLASCoreType.level(ofCPUFlags: avx512.union(["avx512_bf16"])), .avx512BF16)
        XCTAssertEqual(OpenBLASCoreType.level(ofCPUFlags: ["sse4_2", "avx"]), .avx)
        XCTAssertEqual(OpenBLASCoreType.level(ofCore: "HASWELL"), .avx2)
        XCTAssertEqual(OpenBLASCoreType.level(ofCore: "Zen"), .avx2)
        XCTAssertEqual(OpenBLASCoreType.level(ofCore: "skylakex"), .avx512)
        XCTAssertNil(OpenBLASCoreType.level(ofCore: "NEOVERSEN1"))
    }

    func testWarnsOnlyWhenTheForcedCoreIsOlderOrUnsupported() throws {
        XCTAssertNil(OpenBLASCoreType.warning(coreType: nil, cpuFlags: avx512))
        XCTAssertNil(OpenBLASCoreType.warning(coreType: "", cpuFlags: avx512))
        XCTAssertNil(OpenBLASCoreType.warning(coreType: "Haswell", cpuFlags: avx2), "matches: quiet")
        XCTAssertNil(OpenBLASCoreType.warning(coreType: "Zen", cpuFlags: avx2), "matches: quiet")
        XCTAssertNil(OpenBLASCoreType.warning(coreType: "SkylakeX", cpuFlags: avx512), "matches: quiet")
        XCTAssertNil(OpenBLASCoreType.warning(coreType: "ARMV8", cpuFlags: avx512), "unknown names are left alone")
        let older = try XCTUnwrap(OpenBLASCoreType.warning(coreType: "Haswell", cpuFlags: avx512))
        XCTAssertTrue(older.contains("OPENBLAS_CORETYPE=Haswell") && older.contains("AVX-512")
                      && older.contains("unset OPENBLAS_CORETYPE"), older)
        XCTAssertFalse(older.contains("\n"), "one line")
        XCTAssertNotNil(OpenBLASCoreType.warning(coreType: "SkylakeX", cpuFlags: avx512.union(["avx512_bf16"])))
        XCTAssertNotNil(OpenBLASCoreType.warning(coreType: "Sandybridge", cpuFlags: avx2))
        let newer = try XCTUnwrap(OpenBLASCoreType.warning(coreType: "SkylakeX", cpuFlags: avx2))
        XCTAssertTrue(newer.contains("lacks"), newer)
    }

    func testReadsCPUInfoFlags() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cpuinfo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        try "processor\t: 0\nflags\t\t: fpu sse avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n"
            .write(to: url, atomically: true, encoding: .utf8)
        XCTAssertEqual(OpenBLASCoreType.cpuFlags(cpuinfo: url.path), ["fpu", "sse", "avx", "avx2", "fma"])
        XCTAssertNil(OpenBLASCoreType.cpuFlags(cpuinfo: url.path + ".missing"))
    }
}
