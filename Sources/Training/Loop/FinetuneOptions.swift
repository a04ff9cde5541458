// FinetuneOptions: every setting of a fine-tuning run (the CLI's options, DESIGN §11), with the
// official fine-tuning recipe's values where it has one.

/// Settings of a fine-tuning run. Saved with the run's state so that `--resume` continues it.
public struct FinetuneOptions: Sendable, Equatable, Codable {
    /// Optimizer steps.
    public var steps = 1000
    /// Samples (one object on one frame) per step; losses are divided by it (the official
    /// "number of objects").
    public var batch = 4
    /// Base learning rates of the mask decoder and the prompt encoder (official: 5e-6).
    public var learningRateDecoder = 5e-6
    public var learningRatePromptEncoder = 5e-6
    /// AdamW weight decay; none on biases and LayerNorm weights (as the official config).
    public var weightDecay = 1e-4
    /// Fraction of sequences (or, with one sequence, of its last frames) held out for evaluation.
    public var holdout = 0.1
    /// Evaluate the held-out split every N steps (0: only at the end).
    public var evalEvery = 100
    /// Seed of every random choice (samples, prompts, split).
    public var seed: UInt64 = 0
    /// Linear warm-up steps, then `schedule`.
    public var warmup = 50
    public var schedule: LearningRateSchedule = .cosine
    /// Correction clicks after a point or box prompt (official: 7), each a decoder pass fed with
    /// the previous pass's mask.
    public var corrections = 7
    /// Gradient clipping by global L2 norm (official: 0.1); 0 turns it off.
    public var gradientClip = 0.1
    /// Probability of a point or box prompt on video frames, else the mask itself fed to the heads
    /// through `mask_downsample` (single images always get points or a box), and of a box given
    /// a point-or-box prompt. Default 1: the official training feeds a ground-truth mask
    /// (`prob_to_use_pt_input_for_train` 0.5) through `_use_mask_as_output`, which outputs the mask
    /// itself and trains the heads only through that frame's object pointer in later frames'
    /// memory; memories here are teacher-forced and frozen, so such a sample would teach the
    /// heads a mask-only path that inference never takes (a mask prompt bypasses them too).
    public var pointProbability = 1.0
    public var boxProbability = 0.5
    /// Probability of drawing a correction click from the ground truth instead of the error
    /// region (official 0.1).
    public var clickFromTruthProbability = 0.1
    /// Fraction of samples that are tracked frames (memory-conditioned, no prompt), when the data
    /// has video sequences.
    public var trackedFraction = 0.5
    /// Probability that a tracked sample also gets correction clicks.
    public var trackedCorrectionProbability = 0.1
    /// Held-out samples evaluated (at most).
    public var evalSamples = 200

    public init() {}

    /// The first setting that would make a resumed run differ from the saved one (nil: none).
    /// `steps` and `evalEvery` may change.
    public func incompatibility(with saved: FinetuneOptions) -> String? {
        var a = self, b = saved
        a.steps = 0; b.steps = 0
        a.evalEvery = 0; b.evalEvery = 0
        if a == b { return nil }
        let mirrorA = Mirror(reflecting: a), mirrorB = Mirror(reflecting: b)
        for (x, y) in zip(mirrorA.children, mirrorB.children) where "\(x.value)" != "\(y.value)" {
            return "\(x.label ?? "?") is \(x.value) here but \(y.value) in the saved run"
        }
        return "the options differ from the saved run's"
    }
}
