// JobValidator: every check that can be made before a job runs — the request's fields (the
// prompts through `PromptRules`), the model name, the source policy, the output path, and for a
// file source, which is opened here, that every prompt fits the frame and the frame count.
// Device and stream sources are checked when the job starts (it then fails with the same code).

import Foundation
import Media
import SAM2
import TrackingRun

/// A job request that passed every check that can be made before it runs.
public struct ValidatedJob: Sendable {
    public var spec: JobSpec
    public var source: SourceKind
    /// Frame size and count when the source could be opened at submission (files), else nil.
    public var sourceSize: (width: Int, height: Int)?
    public var frameCount: Int?
}

/// Checks job requests (see the file comment).
struct JobValidator {
    let config: DaemonConfig
    let models: ModelRegistry
    let policy: PathPolicy

    /// Throws `APIError`s.
    func validate(_ spec: JobSpec) async throws -> ValidatedJob {
        try spec.check(limits: config.limits)
        guard models.contains(spec.model) else {
            throw APIError(.unknownModel, "unknown model '\(spec.model)'; this daemon has: \(models.names.joined(separator: ", "))")
        }
        let source = try policy.checkSource(spec.source)
        if let path = spec.output?.path { _ = try policy.outputDirectory(path) }
        guard case let .file(path) = source else {
            return ValidatedJob(spec: spec, source: source, sourceSize: nil, frameCount: nil)
        }
        // Files are probed even when the request asks for live mode: their prompts can be checked.
        let info = try await Self.probe(path, roots: config.sourceRoots)
        let frameCount = spec.maxFrames.map { max in info.frameCount.map { Swift.min($0, max) } ?? max } ?? info.frameCount
        for (i, prompt) in spec.prompts.enumerated() {
            do {
                try TrackingPrompt.check(objectID: prompt.object, frame: prompt.frame ?? 0, shape: prompt.shape,
                                         width: info.width, height: info.height, frameCount: info.frameCount)
            } catch {
                throw APIError(.promptOutsideFrame, "prompts[\(i)]: \(error.description)")
            }
        }
        return ValidatedJob(spec: spec, source: source, sourceSize: (info.width, info.height), frameCount: frameCount)
    }

    /// Opens a file source to read its frame size and count (off the caller's thread).
    static func probe(_ path: String, roots: [String]) async throws -> (width: Int, height: Int, frameCount: Int?) {
        let result: Result<(Int, Int, Int?), Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let source = try VideoSource(path, options: InputOptions(decoderThreads: 1, openTimeout: 10,
                                                                            confinement: InputConfinement(allowedDirectories: roots)))
                    continuation.resume(returning: .success((source.info.width, source.info.height, source.info.frameCount)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        switch result {
        case let .success(info): return info
        case let .failure(error as MediaError):
            switch error {
            case .outsideAllowedDirectories, .formatNotAllowed: throw APIError(.sourceNotAllowed, error.description)
            default: throw APIError(.unreadableSource, error.description)
            }
        case let .failure(error): throw APIError(.unreadableSource, "\(error)")
        }
    }
}
