// InheritedTests: Linux XCTest discovery lists only the test methods a class declares itself, so a
// subclass that runs its base class's tests again (the same suite on another store) must repeat
// each one as an override. `assertRepeatsEveryTest` reads the suite's source file and fails when a
// test of the base is not repeated.

import Foundation
import XCTest

public enum InheritedTests {
    /// Fails unless the file at `relativePath` (from the repository root) declares an
    /// `override func testX` for every `func testX` at class level, `except` the names given
    /// (without their `test` prefix: tests of the subclass itself or of another class in the file).
    public static func assertRepeatsEveryTest(in relativePath: String, except: Set<String>,
                                              file: StaticString = #filePath, line: UInt = #line) throws {
        let source = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent(relativePath), encoding: .utf8)
        let declared = { (prefix: String) in
            Set(source.components(separatedBy: "\n").compactMap { line -> String? in
                guard line.hasPrefix(prefix) else { return nil }
                return String(line.dropFirst(prefix.count).prefix { $0 != "(" })
            })
        }
        XCTAssertEqual(declared("    override func test"), declared("    func test").subtracting(except),
                       "\(relativePath): repeat every test of the base class as an override in the subclass",
                       file: file, line: line)
    }
}
