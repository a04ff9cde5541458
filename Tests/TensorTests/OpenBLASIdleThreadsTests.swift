// OpenBLASIdleThreads (Sources/Tensor/OpenBLASIdleThreads.swift): OpenBLAS's idle workers use the
// short timeout (or the user's OPENBLAS_THREAD_TIMEOUT), and threaded products still compute
// correctly after the thread pool was restarted for it.

import Foundation
import XCTest
@testable import Tensor

final class OpenBLASIdleThreadsTests: XCTestCase {
    func testOpenBLASUsesTheShortIdleTimeoutOrTheUsersValue() throws {
        let timeout = try XCTUnwrap(Parallel.openBLASIdleTimeout, "the distribution's OpenBLAS exports openblas_read_env")
        // After initialisation the variable holds the user's value or samtrack's; OpenBLAS clamps it to 4...30.
        let variable = try XCTUnwrap(getenv("OPENBLAS_THREAD_TIMEOUT").flatMap { Int(String(cString: $0)) })
        XCTAssertEqual(timeout, min(max(variable, 4), 30))
    }

    func testThreadedProductAfterThePoolRestart() {
        // 512 x 384 x 256: large enough for OpenBLAS to use its threads.
        let (m, k, n) = (512, 384, 256)
        let a = Tensor(shape: [m, k], values: (0..<(m * k)).map { Float(($0 * 7) % 13) - 6 })
        let b = Tensor(shape: [k, n], values: (0..<(k * n)).map { Float(($0 * 5) % 11) - 5 })
        _ = Parallel.threadCount
        let c = a.matmul(b)
        let av = a.scalars, bv = b.scalars, cv = c.scalars
        for (i, j) in [(0, 0), (1, 200), (311, 17), (511, 255), (256, 128)] {
            var sum: Float = 0
            for l in 0..<k { sum += av[i * k + l] * bv[l * n + j] }
            XCTAssertEqual(cv[i * n + j], sum, "C[\(i), \(j)]")
        }
    }
}
