// Text the CLI shows is snapshot-tested (STYLE principle 13), so that a change to it is deliberate:
// every `--help` output is compared with Tests/samtrackTests/Snapshots/<command>.txt. After a
// deliberate change, regenerate them with
//
//     SAMTRACK_UPDATE_SNAPSHOTS=1 swift test --filter samtrackTests.HelpAndManPageTests
//
// and review the diff. Help is rendered at 80 columns (COLUMNS=80).
//
// man/samtrack.1 must document every option `--help` lists, and render without warnings.

import Foundation
import XCTest
import TestSupport

final class HelpAndManPageTests: XCTestCase {
    /// Each command whose help is snapshotted, and its snapshot's name.
    static let commands: [(arguments: [String], snapshot: String)] = [
        ([], "samtrack"),
        (["track"], "samtrack-track"),
        (["render"], "samtrack-render"),
        (["frame"], "samtrack-frame"),
        (["segment"], "samtrack-segment"),
        (["info"], "samtrack-info"),
        (["bench"], "samtrack-bench"),
        (["bench", "tracker"], "samtrack-bench-tracker"),
        (["bench", "kernels"], "samtrack-bench-kernels"),
        (["bench", "decode"], "samtrack-bench-decode"),
        (["finetune"], "samtrack-finetune"),
    ]

    static let snapshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")
    static let manPage = Fixtures.repositoryRoot.appendingPathComponent("man/samtrack.1")

    private func help(_ arguments: [String]) throws -> String {
        let result = try Samtrack.run(arguments + ["--help"], timeout: 60, environment: ["COLUMNS": "80"])
        XCTAssertEqual(result.status, 0, result.summary)
        return result.stdout
    }

    func testHelpSnapshots() throws {
        let update = ProcessInfo.processInfo.environment["SAMTRACK_UPDATE_SNAPSHOTS"] == "1"
        for (arguments, name) in Self.commands {
            let text = try help(arguments)
            let file = Self.snapshots.appendingPathComponent("\(name).txt")
            if update {
                try FileManager.default.createDirectory(at: Self.snapshots, withIntermediateDirectories: true)
                try text.write(to: file, atomically: true, encoding: .utf8)
                print("updated \(file.path)")
                continue
            }
            guard let expected = try? String(contentsOf: file, encoding: .utf8) else {
                XCTFail("missing snapshot \(file.path); run with SAMTRACK_UPDATE_SNAPSHOTS=1 to create it")
                continue
            }
            if text != expected {
                XCTFail("`samtrack \((arguments + ["--help"]).joined(separator: " "))` differs from \(name).txt "
                        + "(SAMTRACK_UPDATE_SNAPSHOTS=1 regenerates it after a deliberate change):\n"
                        + lineDiff(expected: expected, actual: text))
            }
        }
    }

    func testVersion() throws {
        print("samtrack binary under test: \(Samtrack.binary ?? "none")")
        let result = try Samtrack.run(["--version"], timeout: 60)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertFalse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }

    /// Every option of every command's help appears in the man page, as `\-\-name` (troff).
    func testManPageDocumentsEveryOption() throws {
        let man = try String(contentsOf: Self.manPage, encoding: .utf8)
        // The page as a reader sees the names: troff's escaped hyphens and font changes removed.
        let plain = man.replacingOccurrences(of: "\\-", with: "-")
            .replacingOccurrences(of: "\\fB", with: "").replacingOccurrences(of: "\\fI", with: "")
            .replacingOccurrences(of: "\\fR", with: "").replacingOccurrences(of: "\\fP", with: "")
        for (arguments, _) in Self.commands {
            let text = try help(arguments)
            // Option names: words of [a-z0-9-] that start with "--".
            let words = text.split { !($0.isLetter || $0.isNumber || $0 == "-") }.map(String.init)
            let options = Set(words.filter { $0.hasPrefix("--") && $0.count > 2 })
            XCTAssertFalse(options.isEmpty, "no options found in help of \(arguments)")
            for option in options.sorted() {
                XCTAssertTrue(plain.contains(option), "man/samtrack.1 does not mention \(option) (samtrack \(arguments.joined(separator: " ")))")
            }
            if let subcommand = arguments.last {
                XCTAssertTrue(man.contains(subcommand), "man/samtrack.1 does not describe `\(subcommand)`")
            }
        }
        for variable in ["SAMTRACK_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "SAMTRACK_FFMPEG_LOG", "SAMTRACK_PIPELINE"] {
            XCTAssertTrue(plain.contains(variable), "man/samtrack.1 does not document \(variable)")
        }
        for section in [".SH EXIT STATUS", ".SH EXAMPLES", ".SH ENVIRONMENT", ".SH FILES"] {
            XCTAssertTrue(man.contains(section), "man/samtrack.1 lacks \(section)")
        }
        // Every named exit code is in the EXIT STATUS table, and run.json under FILES.
        let exitStatus = man.components(separatedBy: ".SH EXIT STATUS").last?.components(separatedBy: "\n.SH ").first ?? ""
        for code in [0, 1, 64, 65, 66, 73, 74, 130] {
            XCTAssertTrue(exitStatus.contains(".B \(code)\n") || exitStatus.contains("\\fB\(code)\\fR"),
                          "EXIT STATUS does not list \(code)")
        }
        let files = man.components(separatedBy: ".SH FILES").last?.components(separatedBy: "\n.SH ").first ?? ""
        XCTAssertTrue(files.contains("run.json"), "FILES does not describe run.json")
    }

    /// groff renders the page with every warning enabled and prints none.
    func testManPageRendersWithoutWarnings() throws {
        guard let groff = executableOnPath("groff") else { throw XCTSkip("groff is not installed") }
        let result = try ChildProcess.run(groff, ["-man", "-Tutf8", "-ww", "-z", Self.manPage.path], timeout: 60)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(result.stderr, "", "groff warnings:\n\(result.stderr)")
        if let man = executableOnPath("man") {
            let rendered = try ChildProcess.run(man, ["-l", Self.manPage.path], timeout: 60,
                                                environment: ["MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"])
            XCTAssertEqual(rendered.status, 0, rendered.summary)
            XCTAssertEqual(rendered.stderr, "", "man -l warnings:\n\(rendered.stderr)")
            XCTAssertTrue(rendered.stdout.contains("samtrack"), rendered.stdout)
        }
    }
}

/// The first differing lines of two texts, for failure messages.
func lineDiff(expected: String, actual: String) -> String {
    let a = expected.components(separatedBy: "\n"), b = actual.components(separatedBy: "\n")
    var out: [String] = []
    for i in 0..<max(a.count, b.count) where (i < a.count ? a[i] : nil) != (i < b.count ? b[i] : nil) {
        out.append("line \(i + 1):\n  expected: \(i < a.count ? a[i] : "<none>")\n  actual:   \(i < b.count ? b[i] : "<none>")")
        if out.count == 5 { break }
    }
    return out.joined(separator: "\n")
}
