// FinetuneRun: a whole `samtrack finetune` run: the model and the data are read, every frame's
// features computed once (the frozen image encoder and memory), the held-out split evaluated
// before training and every `evalEvery` steps, and at the end (or on `stop()`) the weights are
// written as an official-format checkpoint (`OUT.pt`, with `OUT.json` beside it when the model
// has a config sidecar) and the run's state as `OUT.pt.state` for `--resume`.

import Checkpoint
import FileIO
import Foundation
import SAM2
import Tensor

public struct FinetuneRequest: Sendable {
    public var model: String
    /// Overrides the checkpoint's config (as `--config`).
    public var config: SAM2Config?
    public var data: String
    public var format: TrainingDataFormat?
    /// The video of a masks.jsonl (jsonl format).
    public var video: String?
    public var output: String
    public var resume = false
    public var options = FinetuneOptions()
    /// Where features go: nil = memory when they fit in `memoryBudget` bytes, else a temporary folder.
    public var cacheDirectory: String?
    public var memoryBudget = 2 << 30

    public init(model: String, data: String, output: String) {
        self.model = model
        self.data = data
        self.output = output
    }

    /// The resumable state's file beside the output.
    public var statePath: String { output + ".state" }
}

public struct FinetuneSummary: Sendable {
    public var steps: Int
    public var stopped: Bool
    public var evaluations: [EvalReport]
    /// Mean seconds per optimizer step in this process (nil when no step ran).
    public var secondsPerStep: Double?
    /// The loss of each step run in this process, in order.
    public var losses: [Double]
    public var output: String
    public var state: String
}

public final class FinetuneRun: @unchecked Sendable {  // the stop flag is behind `lock`; the rest is used by one thread
    public let request: FinetuneRequest
    /// Called while features are computed: (frames done, frames).
    public var onPreparation: (Int, Int) -> Void = { _, _ in }
    public var onStep: (StepReport) -> Void = { _ in }
    public var onEvaluation: (EvalReport) -> Void = { _ in }
    /// Called once the data is read and split: (training frames, prompted samples, tracked samples, held-out samples).
    public var onData: (TrainingData, TrainingSamples) -> Void = { _, _ in }
    private let lock = NSLock()
    private var stopRequested = false

    public init(_ request: FinetuneRequest) { self.request = request }

    /// Asks the run to stop after the current step (it then saves everything). Thread-safe.
    public func stop() {
        lock.lock(); stopRequested = true; lock.unlock()
    }

    private var shouldStop: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopRequested
    }

    public func run() throws -> FinetuneSummary {
        let options = request.options
        guard options.steps >= 0, options.batch >= 1, options.corrections >= 0, options.holdout >= 0, options.holdout < 1 else {
            throw FinetuneError.invalidOptions("steps >= 0, batch >= 1, corrections >= 0 and holdout in [0, 1) are required")
        }
        var saved: FinetuneState? = nil
        if request.resume {
            guard FileManager.default.fileExists(atPath: request.statePath) else { throw FinetuneError.noState(path: request.statePath) }
            let (state, model, data) = try FinetuneState.read(request.statePath)
            if let reason = options.incompatibility(with: state.options) {
                throw FinetuneError.resumeMismatch(path: request.statePath, reason: reason)
            }
            if model != request.model || data != request.data {
                throw FinetuneError.resumeMismatch(path: request.statePath, reason: "it was made from --model \(model) --data \(data)")
            }
            saved = state
        }
        let baseStore = try CheckpointLoader.load(path: request.model)
        let model = try SAM2Model.load(checkpoint: request.model, config: request.config)
        let data = try TrainingData.load(request.data, format: request.format, video: request.video)
        let objects = data.sequences.map { $0.objectIDs.count }.max() ?? 1
        var directory = request.cacheDirectory
        var temporary: String? = nil
        if directory == nil && FrameFeatureStore.bytesPerFrame(model.config, objects: objects) * data.frameCount > request.memoryBudget {
            temporary = FileManager.default.temporaryDirectory.appendingPathComponent("samtrack-finetune-\(getpid())").path
            directory = temporary
        }
        defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
        let store = FrameFeatureStore(model: model, directory: directory)
        try store.prepare(data, progress: onPreparation)
        let parameters = try Parameters.promptEncoderAndDecoder(from: baseStore)
        let trainer = Finetuner(model: model, parameters: parameters, store: store, data: data, options: options)
        onData(data, trainer.samples)
        guard !trainer.samples.trainPrompted.isEmpty || !trainer.samples.trainTracked.isEmpty else {
            throw FinetuneError.noTrainingSamples(reason: "every annotated frame is held out or has no visible object; lower --holdout")
        }
        if let saved {
            guard Set(saved.parameters.keys) == Set(parameters.keys) else {
                throw FinetuneError.resumeMismatch(path: request.statePath, reason: "its parameters are not this model's")
            }
            trainer.restore(saved)
        } else if let report = try trainer.evaluate() {
            onEvaluation(report)
        }
        var seconds = 0.0, stepsRun = 0, stopped = false
        var losses: [Double] = []
        while !trainer.isFinished {
            if shouldStop { stopped = true; break }
            let report = try trainer.trainStep()
            seconds += report.seconds
            stepsRun += 1
            losses.append(report.loss)
            onStep(report)
            if options.evalEvery > 0 && trainer.step % options.evalEvery == 0 && !trainer.isFinished {
                if let evaluation = try trainer.evaluate() { onEvaluation(evaluation) }
                try trainer.state.write(to: request.statePath, model: request.model, data: request.data)
            }
        }
        if !stopped && trainer.evaluations.last?.step != trainer.step, let evaluation = try trainer.evaluate() {
            onEvaluation(evaluation)
        }
        try trainer.state.write(to: request.statePath, model: request.model, data: request.data)
        try writeCheckpoint(base: baseStore, parameters: trainer.parameters, model: model)
        return FinetuneSummary(steps: trainer.step, stopped: stopped, evaluations: trainer.evaluations,
                               secondsPerStep: stepsRun > 0 ? seconds / Double(stepsRun) : nil, losses: losses,
                               output: request.output, state: request.statePath)
    }

    /// Every tensor of the base checkpoint in its order, the trained ones replaced, as float32
    /// `{"model": state_dict}`; the config sidecar beside it when the model needs one.
    func writeCheckpoint(base: WeightStore, parameters: Parameters, model: SAM2Model) throws {
        var tensors: [(key: String, tensor: Tensor)] = []
        for key in base.orderedKeys {
            tensors.append((key, parameters.contains(key) ? parameters[key] : base.tensors[key]!))
        }
        try TorchCheckpointWriter.write(tensors, to: request.output)
        let sidecar = (request.model as NSString).deletingPathExtension + ".json"
        let outputSidecar = (request.output as NSString).deletingPathExtension + ".json"
        if let config = request.config {
            try AtomicFile.write(config.jsonData(), to: outputSidecar)
        } else if FileManager.default.fileExists(atPath: sidecar), sidecar != outputSidecar {
            try? FileManager.default.removeItem(atPath: outputSidecar)
            try FileManager.default.copyItem(atPath: sidecar, toPath: outputSidecar)
        }
    }
}
