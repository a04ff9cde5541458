// PromptSampler: prompts drawn from a ground-truth mask as the official training draws them
// (`sam2/modeling/sam2_utils.py`):
//
// - `box`: `sample_box_points`: the mask's tight box (inclusive pixel bounds), each coordinate
//   moved by up to 10% of the box's width or height (at most 20 pixels), uniformly, then clamped
//   to [0, S - 1]; labels 2 (top-left) and 3 (bottom-right).
// - `point`: `sample_random_points_from_errors`: one pixel drawn uniformly from the error region
//   of a prediction (false positives give a negative click, label 0; false negatives a positive
//   one, label 1); without a prediction the error region is the mask itself (a positive click);
//   with no error at all, a negative click from the background.
//
// Masks are S x S, row-major, non-zero = object; coordinates are model-input pixels (x, y).

import SAM2

public enum PromptSampler {
    /// Relative and absolute bounds of the box noise (SAM's defaults).
    public static let boxNoise = 0.1, boxNoiseBound = 20.0

    /// A jittered box of the mask, or nil when the mask is empty.
    public static func box(mask: [UInt8], size: Int, using rng: inout TrainingRNG) -> PointPrompts? {
        var x0 = size, y0 = size, x1 = -1, y1 = -1
        for y in 0..<size {
            for x in 0..<size where mask[y * size + x] != 0 {
                x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
            }
        }
        guard x1 >= 0 else { return nil }
        let maxDX = min(Double(x1 - x0) * boxNoise, boxNoiseBound)
        let maxDY = min(Double(y1 - y0) * boxNoise, boxNoiseBound)
        var corners = [Double(x0), Double(y0), Double(x1), Double(y1)]
        let bounds = [maxDX, maxDY, maxDX, maxDY]
        for i in 0..<4 {
            corners[i] += (2 * rng.uniform() - 1) * bounds[i]
            corners[i] = min(max(corners[i], 0), Double(size - 1))
        }
        return PointPrompts(coordinates: [(Float(corners[0]), Float(corners[1])), (Float(corners[2]), Float(corners[3]))],
                            labels: [2, 3])
    }

    /// One click from the error region of `predicted` against `mask` (nil prediction: the mask).
    public static func point(mask: [UInt8], predicted: [UInt8]?, size: Int,
                             using rng: inout TrainingRNG) -> (x: Float, y: Float, label: Int) {
        var errors = 0
        for i in 0..<(size * size) where (mask[i] != 0) != ((predicted?[i] ?? 0) != 0) { errors += 1 }
        if errors == 0 {
            // All correct: a negative click from the background (or, for a full mask, anywhere).
            let background = mask.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
            guard background > 0 else {
                let i = rng.index(size * size)
                return (Float(i % size), Float(i / size), 1)
            }
            var pick = rng.index(background)
            for i in 0..<(size * size) where mask[i] == 0 {
                if pick == 0 { return (Float(i % size), Float(i / size), 0) }
                pick -= 1
            }
        }
        var pick = rng.index(errors)
        for i in 0..<(size * size) where (mask[i] != 0) != ((predicted?[i] ?? 0) != 0) {
            if pick == 0 { return (Float(i % size), Float(i / size), mask[i] != 0 ? 1 : 0) }
            pick -= 1
        }
        preconditionFailure("unreachable: the error count was positive")
    }
}
