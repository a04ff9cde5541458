// The error catalogue is the one list of codes: every code is documented in man/samtrackd.8 with
// its HTTP status and appears in docs/openapi.yaml; failed jobs' codes come from typed errors.

import Foundation
import XCTest
import FileIO
import Media
import SAM2
import TestSupport
import TrackingRun
@testable import TrackingDaemon

final class ErrorCatalogueTests: XCTestCase {
    func testEveryCodeIsDocumentedWithItsStatus() throws {
        let man = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("man/samtrackd.8"), encoding: .utf8)
        let openapi = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let jobOnly: Set<ErrorCode> = [.sourceError, .outputError, .diskFull, .modelError, .trackerError, .resumeFailed,
                                       .interrupted, .crashed, .quarantined]
        for code in ErrorCode.allCases {
            if jobOnly.contains(code) {
                XCTAssertTrue(man.contains(".B \(code.rawValue)\n"), "man/samtrackd.8 lacks the job error code \(code.rawValue)")
            } else {
                XCTAssertTrue(man.contains(".B \"\(code.httpStatus) \(code.rawValue)\""),
                              "man/samtrackd.8 lacks '\(code.httpStatus) \(code.rawValue)'")
            }
            XCTAssertTrue(openapi.contains(code.rawValue), "docs/openapi.yaml lacks the error code \(code.rawValue)")
        }
    }

    func testFailedRunsAreClassifiedByTheirTypedCause() {
        let full = FileError.writeFailed(path: "/o/masks.jsonl.partial", reason: "No space left on device (errno 28)", code: ENOSPC)
        XCTAssertEqual(ErrorCode.classify(RunError.output(full)).0, .diskFull)
        XCTAssertEqual(ErrorCode.classify(RunError.output(.symbolicLink(path: "/o/x"))).0, .outputError)
        XCTAssertEqual(ErrorCode.classify(RunError.prompt(objectID: 1, frame: 0, .notFinite)).0, .promptOutsideFrame)
        XCTAssertEqual(ErrorCode.classify(RunError.source(.fileNotFound(input: "a", reason: "b"))).0, .sourceNotFound)
        XCTAssertEqual(ErrorCode.classify(RunError.source(.readFailed(input: "a", reason: "b"))).0, .sourceError)
        XCTAssertEqual(ErrorCode.classify(ModelError.unknown(name: "x", configured: [])).0, .modelError)
        XCTAssertEqual(ErrorCode.classify(full).0, .diskFull, "a full data disk is not a model error")
    }
}
