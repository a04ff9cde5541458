// Session: one interactive session on one media — a `VideoPredictor` with the official
// predictor's semantics, driven on the session's own serial queue inside an interactive compute
// context (so a click is served at normal priority while batch jobs run niced), a propagation
// that streams and can be cancelled, and a snapshot of its state for GET without waiting for the
// queue.

import Foundation
import Export
import SAM2
import Tensor
import Tracker
import TrackingRun

/// The frames of a session's media (a registered upload or source).
public protocol SessionMedia: Sendable {
    var id: String { get }
    var width: Int { get }
    var height: Int { get }
    var frameCount: Int { get }
    /// A frame provider for a model of input size `imageSize`, owned by one session.
    func frameProvider(imageSize: Int) throws -> any FrameProvider
}

/// The predictor, confined to the session's serial queue (only touched from blocks on it).
private final class PredictorBox: @unchecked Sendable {  // confined to `Session.queue`
    let predictor: VideoPredictor
    init(_ predictor: VideoPredictor) { self.predictor = predictor }
}

/// What a session looks like from outside, updated after every operation.
struct SessionSnapshot: Sendable {
    var objects: [Int] = []
    var trackedFrames = 0
    var memoryBytes = 0
    var cacheBytes = 0
}

/// One session (see the file comment). Thread-safe.
final class Session: @unchecked Sendable {  // the predictor is confined to `queue`; the rest is behind `lock`
    let id: String
    let media: any SessionMedia
    let modelName: String
    let createdAt = Date()
    let maxBytes: Int
    private let queue: DispatchQueue
    private let context: ComputeContext
    private let box: PredictorBox
    private let lock = NSLock()
    private var lastActive = Date()
    private var snapshotValue = SessionSnapshot()
    private var propagation: PropagationFlag?
    /// The prompts given, in order (for replaying the session as a job).
    private var promptLog: [PromptSpec] = []

    init(id: String, media: any SessionMedia, modelName: String, model: SAM2Model, frames: any FrameProvider,
         options: PredictorOptions, threads: Int, maxBytes: Int) {
        self.id = id
        self.media = media
        self.modelName = modelName
        self.maxBytes = maxBytes
        queue = DispatchQueue(label: "samtrackd.session.\(id)", qos: .userInitiated)
        context = ComputeContext(threads: threads, priority: .interactive)
        box = PredictorBox(VideoPredictor(model: model, frames: frames, options: options))
    }

    var snapshot: SessionSnapshot { lock.withLock { snapshotValue } }
    var idleSince: Date { lock.withLock { lastActive } }
    var isPropagating: Bool { lock.withLock { propagation != nil } }
    var prompts: [PromptSpec] { lock.withLock { promptLog } }

    func touch() { lock.withLock { lastActive = Date() } }

    /// Runs `body` with the predictor on the session's queue, in its compute context; refreshes
    /// the snapshot after it.
    func perform<T: Sendable>(_ body: @escaping @Sendable (VideoPredictor) throws -> T) async throws -> T {
        touch()
        let box = self.box, context = self.context
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                let result = Result { try context.run { try body(box.predictor) } }
                refreshSnapshot(box.predictor)
                continuation.resume(with: result)
            }
        }
    }

    func recordPrompt(_ spec: PromptSpec) { lock.withLock { promptLog.append(spec) } }
    func forgetPrompts(object: Int?) {
        lock.withLock { promptLog.removeAll { object == nil || $0.object == object } }
    }

    private func refreshSnapshot(_ predictor: VideoPredictor) {
        let value = SessionSnapshot(objects: predictor.objectIDs, trackedFrames: predictor.framesWithOutput.count,
                                    memoryBytes: predictor.memoryByteCount,
                                    cacheBytes: predictor.featureCacheStatistics.bytes)
        lock.withLock {
            snapshotValue = value
            lastActive = Date()
        }
    }

    // MARK: - Propagation

    /// A cancel flag shared by the propagation and whoever cancels it.
    final class PropagationFlag: @unchecked Sendable {  // one Bool behind `lock`
        private let lock = NSLock()
        private var cancelled = false
        func cancel() { lock.withLock { cancelled = true } }
        var isCancelled: Bool { lock.withLock { cancelled } }
    }

    /// Claims the session for a propagation; nil when one already runs.
    func beginPropagation() -> PropagationFlag? {
        lock.withLock {
            guard propagation == nil else { return nil }
            let flag = PropagationFlag()
            propagation = flag
            return flag
        }
    }

    func endPropagation() { lock.withLock { propagation = nil } }

    /// Cancels the running propagation; false when none runs.
    @discardableResult
    func cancelPropagation() -> Bool {
        lock.withLock {
            guard let propagation else { return false }
            propagation.cancel()
            return true
        }
    }
}
