// BundledFile: finds a file or folder that ships with samtrack (the default model, the web app)
// at run time, the same way for the CLI and the daemon — the one owner of that rule.
//
// Places tried, in order:
//   1. the environment variable, when set and not empty (only that path);
//   2. the installed layout: `<bin>/../share/samtrack/<installed name>`;
//   3. the source tree the binary was built in: `<repo path>` under each of the four parents of
//      the executable's folder (`.build/debug/samtrackd` -> `.build/..`);
//   4. the source tree this file was compiled from (#filePath), for binaries moved elsewhere.

import Foundation

public struct BundledFile: Sendable {
    /// What it is, for the error message ("the default model synth.pt").
    public var label: String
    /// The name under `share/samtrack/` in an installed layout.
    public var installedName: String
    /// The path relative to the repository's root.
    public var repositoryPath: String
    /// The variable that overrides the search.
    public var environmentVariable: String

    public init(label: String, installedName: String, repositoryPath: String, environmentVariable: String) {
        self.label = label
        self.installedName = installedName
        self.repositoryPath = repositoryPath
        self.environmentVariable = environmentVariable
    }

    /// The default checkpoint (`Fixtures/models/synth.pt`, with its synth.json beside it).
    public static let defaultModel = BundledFile(label: "the default model synth.pt", installedName: "synth.pt",
                                                 repositoryPath: "Fixtures/models/synth.pt", environmentVariable: "SAMTRACK_MODEL")
    /// The browser app served by samtrackd (a folder with index.html).
    public static let webApp = BundledFile(label: "the web app (index.html)", installedName: "web",
                                           repositoryPath: "Sources/Web", environmentVariable: "SAMTRACK_WEB")

    /// Paths tried, in order.
    public func candidates(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        if let path = environment[environmentVariable], !path.isEmpty { return [path] }
        var list: [String] = []
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        list.append(dir.appendingPathComponent("../share/samtrack/\(installedName)").standardized.path)
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            list.append(dir.appendingPathComponent(repositoryPath).path)
        }
        let sourceRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()  // Sources/TrackingRun
            .deletingLastPathComponent().deletingLastPathComponent()
        list.append(sourceRoot.appendingPathComponent(repositoryPath).path)
        var seen = Set<String>()
        return list.filter { seen.insert($0).inserted }
    }

    /// The first existing candidate, or nil.
    public func find(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        candidates(environment: environment).first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Why nothing was found: every place looked at and how to point at it.
    public func notFoundMessage(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        "\(label) was not found (looked at: \(candidates(environment: environment).joined(separator: ", "))); set \(environmentVariable)"
    }
}
