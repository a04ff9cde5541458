// Prompts: what a user gives for one object on one frame (clicks, a box, a mask), the errors a
// prompt can have, and `PromptRules` — the one place that decides whether a prompt fits a source
// frame. The image predictor, the tracker, the run library, the daemon and the CLI all call these
// rules and map `PromptError` to their own error; none repeats a check.
//
// Coordinates are source pixels (x right, y down), inside [0, width] x [0, height] (the far edge
// included, as a box's x2 may be the frame's width). Labels: 1 = foreground, 0 = background.

import Tensor

/// Prompts for one object on one image, in source pixels.
public struct ImagePrompt: Sendable {
    /// Clicks: (x, y, label) with label 1 = foreground, 0 = background.
    public var points: [(x: Float, y: Float, label: Int)]
    /// Box (x1, y1, x2, y2).
    public var box: (x1: Float, y1: Float, x2: Float, y2: Float)?
    /// Low-res mask logits from an earlier prediction: [1, 1, 4h, 4w].
    public var maskLogits: Tensor?

    public init(points: [(x: Float, y: Float, label: Int)] = [], box: (x1: Float, y1: Float, x2: Float, y2: Float)? = nil,
                maskLogits: Tensor? = nil) {
        self.points = points
        self.box = box
        self.maskLogits = maskLogits
    }

    public var isEmpty: Bool { points.isEmpty && box == nil && maskLogits == nil }

    /// Source-pixel prompts as model-input point prompts (box corners first, labels 2 and 3, then
    /// clicks), scaled to the model's `imageSize`. Nil when there are neither points nor a box.
    /// Call `PromptRules.check` first: this only converts.
    public func modelPoints(imageSize: Int, sourceHeight h: Int, sourceWidth w: Int) -> PointPrompts? {
        let s = Float(imageSize)
        var coords: [(x: Float, y: Float)] = [], labels: [Int] = []
        if let box {
            coords += [(box.x1 / Float(w) * s, box.y1 / Float(h) * s), (box.x2 / Float(w) * s, box.y2 / Float(h) * s)]
            labels += [2, 3]
        }
        for p in points {
            coords.append((p.x / Float(w) * s, p.y / Float(h) * s))
            labels.append(p.label)
        }
        return coords.isEmpty ? nil : PointPrompts(coordinates: coords, labels: labels)
    }
}

/// What is wrong with a prompt, naming the values.
public enum PromptError: Error, Equatable, CustomStringConvertible, Sendable {
    case empty
    case invalidObjectID(Int)
    case notFinite
    case tooManyPoints(count: Int, limit: Int)
    case pointOutsideImage(x: Float, y: Float, width: Int, height: Int)
    case boxOutsideImage(x1: Float, y1: Float, x2: Float, y2: Float, width: Int, height: Int)
    case invalidBox(x1: Float, y1: Float, x2: Float, y2: Float)
    case invalidLabel(Int)
    /// A mask prompt whose size is not the source's.
    case maskSize(width: Int, height: Int, sourceWidth: Int, sourceHeight: Int)
    /// Low-res mask logits of the wrong shape (image predictor refinement).
    case maskShape(expected: [Int], actual: [Int])
    /// A prompt on a frame the source does not have.
    case frameOutOfRange(frame: Int, frameCount: Int)
    case negativeFrame(Int)

    public var description: String {
        switch self {
        case .empty: return "no prompt given: add a point, a box or a mask"
        case let .invalidObjectID(id): return "object id \(id) is invalid: ids are positive integers"
        case .notFinite: return "prompt coordinates must be finite numbers"
        case let .tooManyPoints(count, limit): return "\(count) points given; at most \(limit) per object and frame"
        case let .pointOutsideImage(x, y, w, h): return "point (\(x), \(y)) lies outside the \(w)x\(h) image"
        case let .boxOutsideImage(x1, y1, x2, y2, w, h): return "box (\(x1), \(y1), \(x2), \(y2)) lies outside the \(w)x\(h) image"
        case let .invalidBox(x1, y1, x2, y2): return "box (\(x1), \(y1), \(x2), \(y2)) is empty or inverted: need x1 < x2 and y1 < y2"
        case let .invalidLabel(label): return "point label \(label) is not 0 (background) or 1 (foreground)"
        case let .maskSize(w, h, sw, sh): return "mask is \(w)x\(h) but the source is \(sw)x\(sh)"
        case let .maskShape(expected, actual): return "mask input has shape \(actual), expected \(expected)"
        case let .frameOutOfRange(frame, count):
            return "frame \(frame) is past the end of the source (\(count) frame\(count == 1 ? "" : "s"): 0...\(count - 1))"
        case let .negativeFrame(frame): return "frame \(frame) is negative: frames count from 0"
        }
    }
}

/// The rules a prompt must follow, checked against the source it applies to (see the file comment).
public enum PromptRules {
    /// Most clicks one object may get on one frame.
    public static let maxPoints = 64

    /// Object ids are positive integers.
    public static func checkObjectID(_ id: Int) throws(PromptError) {
        guard id > 0 else { throw .invalidObjectID(id) }
    }

    /// Clicks and box: present, finite, labels 0 or 1, the box ordered, everything inside the
    /// `width` x `height` frame (not checked when the size is not known yet: nil). Mask logits,
    /// for refinement, are checked where they are used.
    public static func check(_ prompt: ImagePrompt, width: Int?, height: Int?) throws(PromptError) {
        guard !prompt.isEmpty else { throw .empty }
        guard prompt.points.count <= maxPoints else { throw .tooManyPoints(count: prompt.points.count, limit: maxPoints) }
        let w = width.map(Float.init) ?? .infinity, h = height.map(Float.init) ?? .infinity
        if let box = prompt.box {
            guard box.x1.isFinite, box.y1.isFinite, box.x2.isFinite, box.y2.isFinite else { throw .notFinite }
            guard box.x1 < box.x2, box.y1 < box.y2 else { throw .invalidBox(x1: box.x1, y1: box.y1, x2: box.x2, y2: box.y2) }
            guard box.x1 >= 0, box.y1 >= 0, box.x2 <= w, box.y2 <= h else {
                throw .boxOutsideImage(x1: box.x1, y1: box.y1, x2: box.x2, y2: box.y2, width: width ?? 0, height: height ?? 0)
            }
        }
        for p in prompt.points {
            guard p.x.isFinite, p.y.isFinite else { throw .notFinite }
            guard p.label == 0 || p.label == 1 else { throw .invalidLabel(p.label) }
            guard p.x >= 0, p.y >= 0, p.x <= w, p.y <= h else {
                throw .pointOutsideImage(x: p.x, y: p.y, width: width ?? 0, height: height ?? 0)
            }
        }
    }

    /// A mask prompt must have the source's size.
    public static func checkMask(width: Int, height: Int, sourceWidth: Int, sourceHeight: Int) throws(PromptError) {
        guard width == sourceWidth, height == sourceHeight else {
            throw .maskSize(width: width, height: height, sourceWidth: sourceWidth, sourceHeight: sourceHeight)
        }
    }

    /// A prompt's frame must exist: not negative, and below the frame count when it is known.
    public static func checkFrame(_ frame: Int, frameCount: Int?) throws(PromptError) {
        guard frame >= 0 else { throw .negativeFrame(frame) }
        if let frameCount, frame >= frameCount { throw .frameOutOfRange(frame: frame, frameCount: frameCount) }
    }
}
