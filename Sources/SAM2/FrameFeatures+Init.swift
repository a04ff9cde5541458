// FrameFeatures+Init: a public initializer for `FrameFeatures`, for callers that run the image
// encoder themselves (fine-tuning keeps the neck levels before conv_s0 / conv_s1 as well, from
// the same encoder pass, and builds the frame's features from its output).

import Tensor

extension FrameFeatures {
    /// vision features and their position encoding [1, C, h, w]; highRes after conv_s0 / conv_s1.
    /// (The memberwise initializer is internal to SAM2.)
    public init(vision: Tensor, position: Tensor, highRes: (s0: Tensor, s1: Tensor)) {
        self.init(visionFeatures: vision, visionPosition: position, highRes: highRes)
    }
}
