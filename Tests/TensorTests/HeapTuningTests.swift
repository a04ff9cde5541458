// HeapTuning: on glibc the settings are accepted (mallopt found and each call succeeds), and
// tensors allocated after it still behave.

import XCTest
@testable import Tensor

final class HeapTuningTests: XCTestCase {
    func testSettingsAreAcceptedOnGlibc() throws {
        #if canImport(Glibc)
        try XCTSkipIf(ProcessInfo.processInfo.environment["SAMTRACK_HEAP_TUNING"] == "0", "disabled")
        HeapTuning.apply()
        XCTAssertTrue(HeapTuning.applied, "mallopt refused a setting or was not found")
        // A large tensor freed and allocated again (reused from the heap now) starts from what
        // it is given, not from stale contents.
        for value in [Float(1), 2] {
            let t = Tensor(shape: [4 << 20], values: [Float](repeating: value, count: 4 << 20))
            XCTAssertEqual(t.scalars.max(), value)
            XCTAssertEqual(t.scalars.min(), value)
        }
        #else
        throw XCTSkip("not glibc")
        #endif
    }
}
