// MaskPrompt: how a mask prompt given at the source resolution becomes the model's mask input, and
// the check that it fits the source (through `PromptRules`, the one owner of prompt checks). Shared
// by the streaming `VideoTracker` and the random-access `VideoPredictor`.
//
// Shapes: source mask [H, W] (values > 0 are the object); model input [1, 1, S, S] of 0 / 1.

import SAM2
import Tensor

enum MaskPrompt {
    /// A mask prompt must be a [H, W] plane of the source's size.
    static func check(_ mask: Tensor, sourceWidth: Int, sourceHeight: Int) throws(PromptError) {
        guard mask.rank == 2 else { throw .maskShape(expected: [sourceHeight, sourceWidth], actual: mask.shape) }
        try PromptRules.checkMask(width: mask.shape[1], height: mask.shape[0], sourceWidth: sourceWidth, sourceHeight: sourceHeight)
    }

    /// A source-resolution mask [H, W] as the model's binary mask input [1, 1, S, S]
    /// (antialiased bilinear resize, then >= 0.5), as the official `add_new_mask` prepares it.
    /// Call `check` first.
    static func modelInput(_ mask: Tensor, imageSize s: Int) -> Tensor {
        let (height, width) = (mask.shape[0], mask.shape[1])
        var binary = mask
        binary.withUnsafeMutablePointer { p in for i in 0..<mask.count { p[i] = p[i] > 0 ? 1 : 0 } }
        var resized = binary.reshaped([1, 1, height, width])
        if height != s || width != s {
            resized = resized.interpolate(height: s, width: s, mode: .bilinear(antialias: true))
            resized.withUnsafeMutablePointer { p in for i in 0..<(s * s) { p[i] = p[i] >= 0.5 ? 1 : 0 } }
        }
        return resized
    }
}

extension HoleFilling {
    /// Low-res logits [B, 1, h, w] of SAM heads as one plane [h, w] (B = 1), with holes of at most
    /// `maxArea` pixels filled (0: unchanged).
    static func filledPlane(_ lowResMasks: Tensor, maxArea: Int) -> Tensor {
        let (h, w) = (lowResMasks.shape[2], lowResMasks.shape[3])
        var logits = lowResMasks.reshaped([h, w])
        if maxArea > 0 {
            logits.withUnsafeMutablePointer { HoleFilling.fill($0, planes: 1, height: h, width: w, maxArea: maxArea) }
        }
        return logits
    }
}
