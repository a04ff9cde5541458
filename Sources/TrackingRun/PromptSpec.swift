// PromptSpec: the JSON prompt schema shared by the daemon (`POST /v1/jobs`, `POST
// /v1/jobs/{id}/prompts`, sessions) and the CLI (`samtrack track --prompts FILE`, and the
// prompts recorded in run.json), decoded strictly (unknown keys are errors) and turned into
// `TrackingPrompt`s. The one decoder of prompts written as JSON.
//
//   {"object": 1, "frame": 0, "box": [x1, y1, x2, y2]}
//   {"object": 2, "points": [[x, y, 1], [x, y, 0]]}
//   {"object": 3, "mask": {"size": [H, W], "counts": "<COCO RLE>"}}
//
// Coordinates are source pixels; labels 1 = foreground, 0 = background (default 1). A list of
// prompts is `{"prompts": [...]}` or one prompt object (`PromptList`).

import Foundation
import Export
import SAM2

/// One prompt for one object (see the file comment).
public struct PromptSpec: Codable, Sendable, Equatable {
    /// Positive object id.
    public var object: Int
    /// Frame (tracked frames, 0 = first); absent means frame 0, or for a prompt added to a
    /// running job, the next frame tracked.
    public var frame: Int?
    /// [x1, y1, x2, y2].
    public var box: [Double]?
    /// [[x, y], [x, y, label], ...].
    public var points: [[Double]]?
    /// COCO RLE mask at the source resolution.
    public var mask: COCORLE?

    public init(object: Int, frame: Int? = nil, box: [Double]? = nil, points: [[Double]]? = nil, mask: COCORLE? = nil) {
        self.object = object
        self.frame = frame
        self.box = box
        self.points = points
        self.mask = mask
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case object, frame, box, points, mask }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        object = try c.decode(Int.self, forKey: .object)
        frame = try c.decodeIfPresent(Int.self, forKey: .frame)
        box = try c.decodeIfPresent([Double].self, forKey: .box)
        points = try c.decodeIfPresent([[Double]].self, forKey: .points)
        mask = try c.decodeIfPresent(COCORLE.self, forKey: .mask)
    }

    /// The JSON form of a library prompt (nil for a removal, which has none).
    public init?(_ prompt: TrackingPrompt) {
        object = prompt.objectID
        frame = prompt.frame
        switch prompt.kind {
        case let .points(image):
            box = image.box.map { [Double($0.x1), Double($0.y1), Double($0.x2), Double($0.y2)] }
            points = image.points.isEmpty ? nil : image.points.map { [Double($0.x), Double($0.y), Double($0.label)] }
        case let .mask(binary):
            mask = COCORLE(encoding: binary)
        case .removal:
            return nil
        }
    }

    /// Largest mask side accepted (pixels), before the source size is known.
    public static let maxMaskSide = 16_384

    /// Checks the prompt's JSON shape and every rule that needs no source (ids, labels, box
    /// order, finite numbers: `PromptRules` without a frame size). `index` names the entry in
    /// the message ("prompts[2] (object 5): ...").
    public func validate(at index: Int) throws(PromptSpecError) {
        let name = "prompts[\(index)] (object \(object))"
        func fail(_ text: String) -> PromptSpecError { PromptSpecError(message: "\(name): \(text)") }
        if let frame, frame < 0 { throw fail("frame must be 0 or more") }
        guard box != nil || points != nil || mask != nil else { throw fail("give a box, points or a mask") }
        if mask != nil && (box != nil || points != nil) { throw fail("a mask prompt cannot be combined with a box or points") }
        if let box, box.count != 4 { throw fail("box must be [x1, y1, x2, y2] (4 numbers)") }
        if let points {
            guard !points.isEmpty else { throw fail("points is empty") }
            for (i, p) in points.enumerated() where p.count != 2 && p.count != 3 {
                throw fail("points[\(i)] must be [x, y] or [x, y, label]")
            }
            for (i, p) in points.enumerated() where p.count == 3 && p[2] != 0 && p[2] != 1 {
                throw fail("points[\(i)] label must be 1 (foreground) or 0 (background)")
            }
        }
        if let mask {
            guard mask.height > 0, mask.width > 0, mask.height <= Self.maxMaskSide, mask.width <= Self.maxMaskSide else {
                throw fail("mask size [\(mask.height), \(mask.width)] must be 1...\(Self.maxMaskSide) on each side")
            }
        }
        do {
            try PromptRules.checkObjectID(object)
            if let prompt = imagePrompt { try PromptRules.check(prompt, width: nil, height: nil) }
        } catch {
            throw fail(error.description)
        }
    }

    /// Pixels of the mask prompt (0 for clicks and boxes), for per-request bounds.
    public var maskPixels: Int { mask.map { $0.height * $0.width } ?? 0 }

    /// Clicks and box as the model's prompt type (nil for a mask prompt).
    public var imagePrompt: ImagePrompt? {
        guard mask == nil else { return nil }
        var prompt = ImagePrompt()
        if let box, box.count == 4 { prompt.box = (Float(box[0]), Float(box[1]), Float(box[2]), Float(box[3])) }
        for p in points ?? [] where p.count >= 2 {
            prompt.points.append((x: Float(p[0]), y: Float(p[1]), label: p.count == 3 ? Int(exactly: p[2]) ?? -1 : 1))
        }
        return prompt
    }

    /// What the prompt rules check (a mask prompt by its size, without decoding it).
    public var shape: TrackingPrompt.Shape {
        if let mask { return .mask(width: mask.width, height: mask.height) }
        return .points(imagePrompt ?? ImagePrompt())
    }

    /// The library prompt (call `validate` first). An entry with no box, points or mask (only
    /// stored, never accepted from a client) is the object's removal at that frame.
    public func trackingPrompt(frame: Int? = nil) -> TrackingPrompt {
        let kind: TrackingPrompt.Kind
        if let mask {
            kind = .mask(mask.decoded())
        } else if box == nil && points == nil {
            kind = .removal
        } else {
            kind = .points(imagePrompt ?? ImagePrompt())
        }
        return TrackingPrompt(objectID: object, frame: frame ?? self.frame ?? 0, kind: kind)
    }
}

/// A prompt whose JSON breaks the schema's rules; the message names the entry.
public struct PromptSpecError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public var description: String { message }
}

/// A list of prompts in JSON: `{"prompts": [...]}`, or a single prompt object.
public struct PromptList: Decodable, Sendable {
    public var prompts: [PromptSpec]

    public init(prompts: [PromptSpec]) { self.prompts = prompts }

    public init(from decoder: Decoder) throws {
        let probe = try decoder.container(keyedBy: AnyCodingKey.self)
        if probe.contains(AnyCodingKey(stringValue: "prompts")) {
            try decoder.rejectUnknownKeys(["prompts"])
            prompts = try probe.decode([PromptSpec].self, forKey: AnyCodingKey(stringValue: "prompts"))
        } else {
            prompts = [try PromptSpec(from: decoder)]
        }
    }
}
