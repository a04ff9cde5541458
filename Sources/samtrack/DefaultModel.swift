// DefaultModel: the checkpoint samtrack uses when no --model is given — the small SAM 2.1 model
// the project trains on synthetic clips (Tools/train), shipped as Fixtures/models/synth.pt with
// its config sidecar synth.json. Where it is looked for is TrackingRun's `BundledFile` rule
// (`$SAMTRACK_MODEL`, `<bin>/../share/samtrack/`, the source tree), shared with samtrackd.

import Foundation
import TrackingRun

enum DefaultModel {
    static let fileName = BundledFile.defaultModel.installedName
    static let environmentVariable = BundledFile.defaultModel.environmentVariable

    /// Paths tried, in order.
    static func candidates() -> [String] { BundledFile.defaultModel.candidates() }

    /// The first existing candidate.
    /// - Throws: `CommandFailure` listing every place looked at.
    static func resolve() throws -> String {
        if let found = BundledFile.defaultModel.find() { return found }
        throw CommandFailure("no --model given and the default model \(fileName) was not found (looked at: "
            + candidates().joined(separator: ", ") + "); pass --model CHECKPOINT or set \(environmentVariable)", exit: .noInput)
    }
}
