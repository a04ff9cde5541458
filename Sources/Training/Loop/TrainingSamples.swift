// TrainingSamples: which (sequence, frame, object) triples a run trains and evaluates on, and
// the held-out split.
//
// A "prompted" sample is an object on a frame where it is visible, prompted as a conditioning
// frame (points, a box, or its mask). A "tracked" sample is an object on a video frame after the
// one where it is first seen, whatever it looks like there (absent objects included: the object
// score is trained too), with the memory-conditioned features and no prompt.
//
// Split: with two or more sequences, round(holdout x count) of them (at least one when holdout
// > 0), chosen by the seed; with one sequence, its last ceil(holdout x frames) frames.

import Foundation

public struct TrainingSample: Sendable, Equatable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable { case prompted, tracked }
    public var sequence: Int
    public var frame: Int
    public var object: Int
    public var kind: Kind
}

public struct TrainingSamples: Sendable {
    public var trainPrompted: [TrainingSample] = []
    public var trainTracked: [TrainingSample] = []
    public var heldOut: [TrainingSample] = []
    /// Sequences held out entirely (empty when frames of one sequence are).
    public var heldOutSequences: [Int] = []

    /// The samples of `store`'s targets split by `options`.
    public init(store: FrameFeatureStore, data: TrainingData, options: FinetuneOptions) {
        let count = data.sequences.count
        var heldOutSequence = Set<Int>()
        var heldOutFrom: Int? = nil  // one sequence: frames from here on
        if options.holdout > 0 {
            if count >= 2 {
                var rng = TrainingRNG(seed: options.seed ^ 0x5EED_5EED)
                var order = Array(0..<count)
                for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.index(i + 1)) }
                let n = min(count - 1, max(1, Int((options.holdout * Double(count)).rounded())))
                heldOutSequence = Set(order.prefix(n))
            } else {
                let frames = data.sequences[0].frames.count
                let n = min(frames - 1, Int((options.holdout * Double(frames)).rounded(.up)))
                if n > 0 { heldOutFrom = frames - n }
            }
        }
        heldOutSequences = heldOutSequence.sorted()
        for (s, sequence) in data.sequences.enumerated() {
            let first = store.firstFrames[s]
            for t in 0..<sequence.frames.count {
                let heldOut = heldOutSequence.contains(s) || (heldOutFrom.map { t >= $0 } ?? false)
                for id in first.keys.sorted() {
                    guard let f = first[id], t >= f else { continue }
                    let visible = (store.targets[s][t][id]?.area ?? 0) > 0
                    if visible {
                        let sample = TrainingSample(sequence: s, frame: t, object: id, kind: .prompted)
                        if heldOut { self.heldOut.append(sample) } else { trainPrompted.append(sample) }
                    }
                    if sequence.isVideo && t > f {
                        let sample = TrainingSample(sequence: s, frame: t, object: id, kind: .tracked)
                        if heldOut { self.heldOut.append(sample) } else { trainTracked.append(sample) }
                    }
                }
            }
        }
        // At most evalSamples held-out samples, spread evenly over the list.
        if heldOut.count > options.evalSamples && options.evalSamples > 0 {
            let n = heldOut.count
            heldOut = (0..<options.evalSamples).map { heldOut[$0 * n / options.evalSamples] }
        }
    }
}
