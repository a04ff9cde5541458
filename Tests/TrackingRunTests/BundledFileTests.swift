// BundledFileTests: the rule that finds the files shipped with samtrack (the default model, the
// web app): the environment variable alone when set, else the installed layout first, then the
// source tree; what is found in this repository; the message naming every place looked at.

import Foundation
import XCTest
import TestSupport
import TrackingRun

final class BundledFileTests: XCTestCase {
    func testTheEnvironmentVariableIsTheOnlyCandidateWhenSet() {
        let file = BundledFile.webApp
        XCTAssertEqual(file.candidates(environment: ["SAMTRACK_WEB": "/opt/app"]), ["/opt/app"])
        XCTAssertNil(file.find(environment: ["SAMTRACK_WEB": "/nonexistent/samtrack-web"]),
                     "a variable naming a missing folder finds nothing rather than falling back")
        XCTAssertTrue(file.notFoundMessage(environment: ["SAMTRACK_WEB": "/nonexistent/x"]).contains("/nonexistent/x"))
        XCTAssertTrue(file.notFoundMessage(environment: ["SAMTRACK_WEB": "/nonexistent/x"]).contains("SAMTRACK_WEB"))
        // An empty variable counts as unset.
        XCTAssertGreaterThan(file.candidates(environment: ["SAMTRACK_WEB": ""]).count, 1)
    }

    func testInstalledLayoutFirstThenTheSourceTree() throws {
        let candidates = BundledFile.defaultModel.candidates(environment: [:])
        XCTAssertTrue(candidates[0].hasSuffix("/share/samtrack/synth.pt"), candidates[0])
        XCTAssertTrue(candidates.dropFirst().allSatisfy { $0.hasSuffix("/Fixtures/models/synth.pt") }, "\(candidates)")
        XCTAssertEqual(Set(candidates).count, candidates.count, "no place twice")
        let repository = Fixtures.repositoryRoot.standardizedFileURL.path
        XCTAssertEqual(BundledFile.defaultModel.find(environment: [:]).map { URL(fileURLWithPath: $0).standardizedFileURL.path },
                       repository + "/Fixtures/models/synth.pt")
        XCTAssertEqual(BundledFile.webApp.find(environment: [:]).map { URL(fileURLWithPath: $0).standardizedFileURL.path },
                       repository + "/Sources/Web")
    }
}
