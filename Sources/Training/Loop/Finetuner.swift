// Finetuner: the training loop. Each step draws `batch` samples, runs the prompt encoder and mask
// decoder on the cached features (a prompted sample: a point or a jittered box and up to
// `corrections` correction clicks, each pass fed with the previous pass's mask, or the mask
// itself; a tracked sample: the memory-conditioned features without a prompt), sums the official
// loss over every pass, back-propagates through the chain, clips the gradient, and takes an
// AdamW step with per-group rates (decoder / prompt encoder, with and without weight decay)
// scaled by the schedule.
//
// Everything random comes from one seeded generator whose state is saved with the run, so a run
// resumed from its state continues exactly as an uninterrupted one.

import Foundation
import SAM2
import Tensor

/// What one step did.
public struct StepReport: Sendable {
    public var step: Int, steps: Int
    /// Loss terms summed over the batch's passes (each already divided by the batch size).
    public var terms: LossTerms
    public var loss: Double
    public var learningRateDecoder: Double
    public var gradientNorm: Double
    public var seconds: Double
}

/// Mean IoU of the held-out samples with fixed prompts.
public struct EvalReport: Sendable, Equatable {
    public var step: Int
    public var meanIoU: Double
    public var promptedIoU: Double?, trackedIoU: Double?
    public var samples: Int
}

public final class Finetuner {
    public let model: SAM2Model
    public let heads: TrainableSAMHeads
    public let store: FrameFeatureStore
    public let samples: TrainingSamples
    public let options: FinetuneOptions
    public private(set) var parameters: Parameters
    public private(set) var optimizer: AdamW
    public private(set) var rng: TrainingRNG
    /// Steps done.
    public private(set) var step = 0
    public let groups: [ParameterGroup]
    /// Held-out samples with their fixed prompts.
    private let evaluation: [(TrainingSample, FixedPrompt)]
    public private(set) var evaluations: [EvalReport] = []
    private let noMemEmbed: Tensor
    private let sequenceIsVideo: [Bool]

    /// The prompt a held-out sample is always evaluated with.
    enum FixedPrompt: Sendable {
        case points(PointPrompts), mask, none
    }

    public init(model: SAM2Model, parameters: Parameters, store: FrameFeatureStore, data: TrainingData, options: FinetuneOptions) {
        self.model = model
        heads = TrainableSAMHeads(model: model)
        self.store = store
        self.options = options
        self.parameters = parameters
        samples = TrainingSamples(store: store, data: data, options: options)
        optimizer = AdamW()
        rng = TrainingRNG(seed: options.seed)
        groups = Finetuner.parameterGroups(parameters, options: options)
        noMemEmbed = model.noMemEmbed.reshaped([1, -1, 1, 1])
        sequenceIsVideo = data.sequences.map(\.isVideo)
        var evalRNG = TrainingRNG(seed: options.seed ^ 0xE7A1_0000)
        var fixed: [(TrainingSample, FixedPrompt)] = []
        for sample in samples.heldOut {
            if sample.kind == .tracked { fixed.append((sample, .none)); continue }
            let target = store.target(sequence: sample.sequence, frame: sample.frame, object: sample.object)
            let isVideo = data.sequences[sample.sequence].isVideo
            let prompt = Finetuner.initialPrompt(target: target, size: model.config.imageSize, isVideo: isVideo,
                                                 options: options, rng: &evalRNG)
            fixed.append((sample, prompt.map { .points($0) } ?? .mask))
        }
        evaluation = fixed
    }

    /// Restores a saved run's parameters, optimizer state, generator and step.
    public func restore(_ state: FinetuneState) {
        parameters = state.parameters
        optimizer = state.optimizer
        rng = state.rng
        step = state.step
        evaluations = state.evaluations
    }

    /// The run's current state (for `--resume`).
    public var state: FinetuneState {
        FinetuneState(parameters: parameters, optimizer: optimizer, rng: rng, step: step, options: options,
                      evaluations: evaluations)
    }

    /// The official param groups: decoder and prompt encoder, each split into parameters with
    /// weight decay and those without (biases and `nn.LayerNorm` weights).
    public static func parameterGroups(_ parameters: Parameters, options: FinetuneOptions) -> [ParameterGroup] {
        func noDecay(_ key: String) -> Bool {
            key.hasSuffix(".bias") || key.contains(".transformer.") && key.split(separator: ".").contains { $0.hasPrefix("norm") }
        }
        var groups: [ParameterGroup] = []
        for (module, rate) in [("sam_mask_decoder.", options.learningRateDecoder), ("sam_prompt_encoder.", options.learningRatePromptEncoder)] {
            let keys = parameters.keys.filter { $0.hasPrefix(module) }
            let name = module.dropLast()
            groups.append(ParameterGroup(name: "\(name)", keys: keys.filter { !noDecay($0) }, learningRate: rate,
                                         weightDecay: options.weightDecay))
            groups.append(ParameterGroup(name: "\(name) (no decay)", keys: keys.filter(noDecay), learningRate: rate, weightDecay: 0))
        }
        return groups
    }

    /// The first prompt of a prompted sample: a box or one click (nil: the mask itself).
    static func initialPrompt(target: [UInt8], size: Int, isVideo: Bool, options: FinetuneOptions,
                              rng: inout TrainingRNG) -> PointPrompts? {
        guard !isVideo || rng.uniform() < options.pointProbability else { return nil }
        if rng.uniform() < options.boxProbability, let box = PromptSampler.box(mask: target, size: size, using: &rng) {
            return box
        }
        let p = PromptSampler.point(mask: target, predicted: nil, size: size, using: &rng)
        return PointPrompts(coordinates: [(p.x, p.y)], labels: [p.label])
    }

    public var isFinished: Bool { step >= options.steps }

    /// One optimizer step.
    @discardableResult
    public func trainStep() throws -> StepReport {
        let started = Date()
        var gradients = Gradients()
        var terms = LossTerms()
        let hasTracked = !samples.trainTracked.isEmpty, hasPrompted = !samples.trainPrompted.isEmpty
        for _ in 0..<options.batch {
            let tracked = hasTracked && (!hasPrompted || rng.uniform() < options.trackedFraction)
            let pool = tracked ? samples.trainTracked : samples.trainPrompted
            let sample = pool[rng.index(pool.count)]
            terms += try run(sample, gradients: &gradients)
        }
        let norm = gradients.norm
        if options.gradientClip > 0 {
            // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when below 1.
            let coefficient = options.gradientClip / (norm + 1e-6)
            if coefficient < 1 { gradients.scale(by: Float(coefficient)) }
        }
        let factor = options.schedule.factor(step: step, total: options.steps, warmup: options.warmup)
        let scheduled = groups.map { group -> ParameterGroup in
            var g = group
            g.learningRate *= factor
            return g
        }
        optimizer.step(&parameters, gradients: gradients, groups: scheduled)
        step += 1
        return StepReport(step: step, steps: options.steps, terms: terms, loss: terms.total(LossWeights()),
                          learningRateDecoder: options.learningRateDecoder * factor, gradientNorm: norm,
                          seconds: Date().timeIntervalSince(started))
    }

    /// Forward and backward passes of one sample; adds its gradients.
    func run(_ sample: TrainingSample, gradients: inout Gradients) throws -> LossTerms {
        let size = model.config.imageSize
        let frame = try store.features(sequence: sample.sequence, frame: sample.frame)
        let target = store.target(sequence: sample.sequence, frame: sample.frame, object: sample.object)
        var passes: [(TrainableSAMHeads.Step, StepLoss, Bool)] = []  // step, loss, mask input chained
        var terms = LossTerms()
        func pass(_ features: SampleFeatures, points: PointPrompts?, maskInput: Tensor?, chained: Bool, initial: Bool) {
            let count = points?.labels.count ?? 0
            let multimask = maskInput != nil && !chained ? false : heads.usesMultimask(initialConditioningFrame: initial, pointCount: count)
            let step = heads.forward(features, points: points, maskInput: maskInput, multimask: multimask, parameters)
            let loss = MaskLoss.step(logits: step.highResCandidates, iou: step.iou, objectScore: step.objectScore,
                                     target: target, objects: options.batch)
            terms += loss.terms
            passes.append((step, loss, chained))
        }
        var points: PointPrompts?
        let initial = sample.kind == .prompted
        let features: SampleFeatures
        var corrections = 0
        switch sample.kind {
        case .tracked:
            guard let conditioned = frame.tracked[sample.object] else {
                preconditionFailure("no tracked features for object \(sample.object) on frame \(sample.frame)")
            }
            features = SampleFeatures(imageEmbedding: conditioned, highRes: (frame.neck0, frame.neck1))
            pass(features, points: nil, maskInput: nil, chained: false, initial: false)
            if rng.uniform() < options.trackedCorrectionProbability { corrections = options.corrections }
        case .prompted:
            let isVideo = sequenceIsVideo[sample.sequence]
            points = Finetuner.initialPrompt(target: target, size: size, isVideo: isVideo, options: options, rng: &rng)
            if let points {
                features = SampleFeatures(imageEmbedding: frame.vision + noMemEmbed, highRes: (frame.neck0, frame.neck1))
                pass(features, points: points, maskInput: nil, chained: false, initial: true)
                corrections = options.corrections
            } else {
                // `_use_mask_as_output`: the heads see the raw features and the mask through `mask_downsample`.
                features = SampleFeatures(imageEmbedding: frame.vision, highRes: (frame.neck0, frame.neck1))
                let mask = Tensor(shape: [1, 1, size, size], values: target.map { Float($0) })
                pass(features, points: nil, maskInput: model.maskDownsample?(mask), chained: false, initial: true)
            }
        }
        for _ in 0..<corrections {
            let previous = passes.last!.0
            let fromTruth = rng.uniform() < options.clickFromTruthProbability
            let predicted: [UInt8]? = fromTruth ? nil : previous.highResCandidates
                .slice(axis: 1, previous.chosen..<(previous.chosen + 1)).scalars.map { $0 > 0 ? 1 : 0 }
            let click = PromptSampler.point(mask: target, predicted: predicted, size: size, using: &rng)
            var next = points ?? PointPrompts(coordinates: [], labels: [])
            next.coordinates.append((click.x, click.y))
            next.labels.append(click.label)
            points = next
            pass(features, points: next, maskInput: previous.lowResMask, chained: true, initial: initial)
        }
        var dNext: Tensor? = nil
        for (step, loss, chained) in passes.reversed() {
            let dInput = heads.backward(step, dHighRes: loss.dMasks, dIoU: loss.dIoU, dObjectScore: loss.dObjectScore,
                                        dLowResMask: dNext, parameters, &gradients)
            dNext = chained ? dInput : nil
        }
        return terms
    }

    /// Mean IoU (logits > 0 against the target, S x S) of the held-out samples, one pass each
    /// with its fixed prompt.
    public func evaluate() throws -> EvalReport? {
        guard !evaluation.isEmpty else { return nil }
        let size = model.config.imageSize
        var prompted: [Double] = [], tracked: [Double] = []
        for (sample, prompt) in evaluation {
            let frame = try store.features(sequence: sample.sequence, frame: sample.frame)
            let target = store.target(sequence: sample.sequence, frame: sample.frame, object: sample.object)
            let step: TrainableSAMHeads.Step
            switch prompt {
            case .none:
                let features = SampleFeatures(imageEmbedding: frame.tracked[sample.object]!, highRes: (frame.neck0, frame.neck1))
                step = heads.forward(features, points: nil, maskInput: nil,
                                     multimask: heads.usesMultimask(initialConditioningFrame: false, pointCount: 0), parameters)
            case let .points(points):
                let features = SampleFeatures(imageEmbedding: frame.vision + noMemEmbed, highRes: (frame.neck0, frame.neck1))
                step = heads.forward(features, points: points, maskInput: nil,
                                     multimask: heads.usesMultimask(initialConditioningFrame: true, pointCount: points.labels.count),
                                     parameters)
            case .mask:
                let features = SampleFeatures(imageEmbedding: frame.vision, highRes: (frame.neck0, frame.neck1))
                let mask = Tensor(shape: [1, 1, size, size], values: target.map { Float($0) })
                step = heads.forward(features, points: nil, maskInput: model.maskDownsample?(mask), multimask: false, parameters)
            }
            let chosen = step.highResCandidates.slice(axis: 1, step.chosen..<(step.chosen + 1))
            let iou = Finetuner.iou(chosen.scalars, target)
            if sample.kind == .tracked { tracked.append(iou) } else { prompted.append(iou) }
        }
        func mean(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }
        let report = EvalReport(step: step, meanIoU: mean(prompted + tracked) ?? 0, promptedIoU: mean(prompted),
                                trackedIoU: mean(tracked), samples: evaluation.count)
        evaluations.append(report)
        return report
    }

    /// IoU of (logits > 0) and a 0/1 target; 1 when both are empty.
    static func iou(_ logits: [Float], _ target: [UInt8]) -> Double {
        var intersection = 0, union = 0
        for i in 0..<target.count {
            let p = logits[i] > 0, t = target[i] != 0
            if p && t { intersection += 1 }
            if p || t { union += 1 }
        }
        return union == 0 ? 1 : Double(intersection) / Double(union)
    }
}
