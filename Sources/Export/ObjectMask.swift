// ObjectMask: what the writers receive for one tracked object on one frame, and the rule that
// decides which object a pixel shows when masks overlap.

/// One object's mask on one frame: its id (a positive integer), its score (the object-presence
/// logit) and its binary mask at source resolution [H, W].
public struct ObjectMask: Equatable, Sendable {
    /// Object id, > 0 (palette PNGs need 1...255).
    public var id: Int
    /// Object-presence logit; higher means more confident.
    public var score: Float
    /// The mask at source resolution.
    public var mask: BinaryMask

    public init(id: Int, score: Float, mask: BinaryMask) {
        self.id = id
        self.score = score
        self.mask = mask
    }

    /// The order in which overlapping masks are painted (indices into `objects`), last on top.
    ///
    /// Overlap rule, shared by `PalettePNGWriter` and `OverlayRenderer`: a pixel claimed by several
    /// objects shows the object with the highest score; between equal scores the one later in
    /// `objects` wins. A NaN score ranks below every number.
    public static func paintingOrder(_ objects: [ObjectMask]) -> [Int] {
        func rank(_ score: Float) -> Float { score.isNaN ? -.infinity : score }
        return objects.indices.sorted { a, b in
            let (ra, rb) = (rank(objects[a].score), rank(objects[b].score))
            return ra != rb ? ra < rb : a < b
        }
    }
}
