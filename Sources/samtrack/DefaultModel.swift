// DefaultModel: the checkpoint samtrack uses when no --model is given — the small SAM 2.1 model
// the project trains on synthetic clips (Tools/train), shipped as Fixtures/models/synth.pt with
// its config sidecar synth.json.

import Foundation

/// Finds the bundled default model: `$SAMTRACK_MODEL` when set, else `synth.pt` in an installed
/// layout (`<bin>/../share/samtrack/`), in the source tree the binary was built in
/// (`Fixtures/models/` of a parent of the executable's folder, e.g. `.build/release/..`), or in the
/// source tree this file was compiled from.
enum DefaultModel {
    static let fileName = "synth.pt"
    static let environmentVariable = "SAMTRACK_MODEL"

    /// Paths tried, in order.
    static func candidates() -> [String] {
        if let path = ProcessInfo.processInfo.environment[environmentVariable], !path.isEmpty {
            return [path]
        }
        var list: [String] = []
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        list.append(dir.appendingPathComponent("../share/samtrack/\(fileName)").standardized.path)
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            list.append(dir.appendingPathComponent("Fixtures/models/\(fileName)").path)
        }
        let sourceRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()  // Sources/samtrack
            .deletingLastPathComponent().deletingLastPathComponent()
        list.append(sourceRoot.appendingPathComponent("Fixtures/models/\(fileName)").path)
        var seen = Set<String>()
        return list.filter { seen.insert($0).inserted }
    }

    /// The first existing candidate.
    /// - Throws: `CommandFailure` listing every place looked at.
    static func resolve() throws -> String {
        let paths = candidates()
        if let found = paths.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw CommandFailure("no --model given and the default model \(fileName) was not found (looked at: "
            + paths.joined(separator: ", ") + "); pass --model CHECKPOINT or set \(environmentVariable)", exit: .noInput)
    }
}
