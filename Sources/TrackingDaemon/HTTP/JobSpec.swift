// JobSpec: the JSON body of `POST /v1/jobs` (DESIGN §7) and of `POST /v1/jobs/{id}/prompts`,
// decoded strictly (unknown keys are errors) and turned into the library's `TrackingPrompt`s.
//
// {"source": "/srv/videos/clip.mp4", "model": "tiny",
//  "prompts": [{"object": 1, "frame": 0, "box": [x1, y1, x2, y2]},
//              {"object": 2, "points": [[x, y, 1], [x, y, 0]]},
//              {"object": 3, "mask": {"size": [H, W], "counts": "<COCO RLE>"}}],
//  "output": {"format": "rle", "path": "relative/dir"}, "live": false,
//  "max_frames": 300, "fill_holes": 8, "precision": "fp32"}
//
// Coordinates are source pixels; labels 1 = foreground, 0 = background (default 1).

import Foundation
import Export
import SAM2
import Tensor
import TrackingRun

/// One prompt for one object.
public struct PromptSpec: Codable, Sendable, Equatable {
    /// Positive object id.
    public var object: Int
    /// Frame (tracked frames, 0 = first) for job creation; absent in prompts added while running.
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

    /// Largest mask side accepted (pixels), before the source size is known.
    static let maxMaskSide = 16_384

    /// Checks the prompt's JSON shape and every rule that needs no source (ids, labels, box
    /// order, finite numbers: `PromptRules` without a frame size); throws 400 `invalid_prompt`.
    public func check(at index: Int) throws(APIError) {
        let name = "prompts[\(index)] (object \(object))"
        if let frame, frame < 0 { throw APIError(.invalidPrompt, "\(name): frame must be 0 or more") }
        guard box != nil || points != nil || mask != nil else {
            throw APIError(.invalidPrompt, "\(name): give a box, points or a mask")
        }
        if mask != nil && (box != nil || points != nil) {
            throw APIError(.invalidPrompt, "\(name): a mask prompt cannot be combined with a box or points")
        }
        if let box, box.count != 4 {
            throw APIError(.invalidPrompt, "\(name): box must be [x1, y1, x2, y2] (4 numbers)")
        }
        if let points {
            guard !points.isEmpty else { throw APIError(.invalidPrompt, "\(name): points is empty") }
            for (i, p) in points.enumerated() where p.count != 2 && p.count != 3 {
                throw APIError(.invalidPrompt, "\(name): points[\(i)] must be [x, y] or [x, y, label]")
            }
            for (i, p) in points.enumerated() where p.count == 3 && p[2] != 0 && p[2] != 1 {
                throw APIError(.invalidPrompt, "\(name): points[\(i)] label must be 1 (foreground) or 0 (background)")
            }
        }
        if let mask {
            guard mask.height > 0, mask.width > 0, mask.height <= Self.maxMaskSide, mask.width <= Self.maxMaskSide else {
                throw APIError(.invalidPrompt, "\(name): mask size [\(mask.height), \(mask.width)] must be 1...\(Self.maxMaskSide) on each side")
            }
        }
        do {
            try PromptRules.checkObjectID(object)
            if let prompt = imagePrompt { try PromptRules.check(prompt, width: nil, height: nil) }
        } catch {
            throw APIError(.invalidPrompt, "\(name): \(error.description)")
        }
    }

    /// Pixels of the mask prompt (0 for clicks and boxes), for the per-request bound.
    var maskPixels: Int { mask.map { $0.height * $0.width } ?? 0 }

    /// Clicks and box as the model's prompt type (nil for a mask prompt).
    var imagePrompt: ImagePrompt? {
        guard mask == nil else { return nil }
        var prompt = ImagePrompt()
        if let box, box.count == 4 { prompt.box = (Float(box[0]), Float(box[1]), Float(box[2]), Float(box[3])) }
        for p in points ?? [] where p.count >= 2 {
            prompt.points.append((x: Float(p[0]), y: Float(p[1]), label: p.count == 3 ? Int(exactly: p[2]) ?? -1 : 1))
        }
        return prompt
    }

    /// The library prompt (call `check` first). An entry with no box, points or mask (only stored,
    /// never accepted from a client) is the object's removal at that frame.
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

/// Where a job's masks go.
public struct OutputSpec: Codable, Sendable, Equatable {
    /// rle (masks.jsonl, default), png or palette.
    public var format: MaskFormat?
    /// Directory relative to the output root; default: the job id.
    public var path: String?

    public init(format: MaskFormat? = nil, path: String? = nil) {
        self.format = format
        self.path = path
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case format, path }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let text = try c.decodeIfPresent(String.self, forKey: .format) {
            guard let format = MaskFormat(rawValue: text) else {
                throw DecodingError.dataCorruptedError(forKey: .format, in: c,
                                                       debugDescription: "'\(text)' is not one of rle, png, palette")
            }
            self.format = format
        }
        path = try c.decodeIfPresent(String.self, forKey: .path)
    }
}

/// The body of `POST /v1/jobs`.
public struct JobSpec: Codable, Sendable, Equatable {
    public var source: String
    public var model: String
    public var prompts: [PromptSpec]
    public var output: OutputSpec?
    /// Newest frame wins when tracking is slower than the source; default: automatic (devices and
    /// stream URLs are live, files are not).
    public var live: Bool?
    public var maxFrames: Int?
    /// Hole filling in the low-res masks (pixels; 0 = off; default 8).
    public var fillHoles: Int?
    /// Arithmetic of the encoder's and memory attention's products ("fp32", the default, or
    /// "bf16" on CPUs with AVX-512 BF16).
    public var precision: Precision?

    public init(source: String, model: String, prompts: [PromptSpec], output: OutputSpec? = nil, live: Bool? = nil,
                maxFrames: Int? = nil, fillHoles: Int? = nil, precision: Precision? = nil) {
        self.source = source
        self.model = model
        self.prompts = prompts
        self.output = output
        self.live = live
        self.maxFrames = maxFrames
        self.fillHoles = fillHoles
        self.precision = precision
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case source, model, prompts, output, live, precision
        case maxFrames = "max_frames", fillHoles = "fill_holes"
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        source = try c.decode(String.self, forKey: .source)
        model = try c.decode(String.self, forKey: .model)
        prompts = try c.decode([PromptSpec].self, forKey: .prompts)
        output = try c.decodeIfPresent(OutputSpec.self, forKey: .output)
        live = try c.decodeIfPresent(Bool.self, forKey: .live)
        maxFrames = try c.decodeIfPresent(Int.self, forKey: .maxFrames)
        fillHoles = try c.decodeIfPresent(Int.self, forKey: .fillHoles)
        if let text = try c.decodeIfPresent(String.self, forKey: .precision) {
            guard let value = Precision(rawValue: text) else {
                throw DecodingError.dataCorruptedError(forKey: .precision, in: c,
                                                       debugDescription: "'\(text)' is not one of fp32, bf16")
            }
            precision = value
        }
    }

    /// Checks everything that needs neither the source nor the model: prompts' shapes, object
    /// count, frames, numbers, the output format's limits. Throws 400 / 413 / 422 `APIError`s.
    public func check(limits: DaemonConfig.Limits) throws(APIError) {
        guard !prompts.isEmpty else { throw APIError(.invalidPrompt, "prompts: give at least one object (box, points or mask)") }
        guard prompts.count <= 1024 else { throw APIError(.invalidPrompt, "prompts: at most 1024 entries") }
        for (i, p) in prompts.enumerated() { try p.check(at: i) }
        let maskPixels = prompts.reduce(0) { $0 + $1.maskPixels }
        guard maskPixels <= limits.maxPromptPixels else {
            throw APIError(.promptsTooLarge, "the mask prompts hold \(maskPixels) pixels; this daemon accepts at most "
                           + "\(limits.maxPromptPixels) per request (limits.max_prompt_pixels)")
        }
        let objects = Set(prompts.map(\.object))
        guard objects.count <= limits.maxObjectsPerJob else {
            throw APIError(.tooManyObjects, "\(objects.count) objects requested; this daemon allows \(limits.maxObjectsPerJob) per job")
        }
        if let maxID = (output?.format ?? .rle).maxObjectID, let id = objects.first(where: { $0 > maxID }) {
            throw APIError(.unsupportedOutput, "object id \(id) cannot be stored in a \(output?.format?.rawValue ?? "rle") "
                           + "output (ids 1...\(maxID)); use ids up to \(maxID) or the rle format")
        }
        var seen = Set<[Int]>()
        for p in prompts where !seen.insert([p.object, p.frame ?? 0]).inserted {
            throw APIError(.invalidPrompt, "object \(p.object) has two prompts on frame \(p.frame ?? 0): merge them into one entry")
        }
        guard prompts.contains(where: { ($0.frame ?? 0) == 0 }) else {
            throw APIError(.noPromptOnFirstFrame, "at least one object must be prompted on frame 0")
        }
        if let maxFrames {
            guard maxFrames > 0 else { throw APIError(.invalidRequest, "max_frames must be positive") }
            if let late = prompts.first(where: { ($0.frame ?? 0) >= maxFrames }) {
                throw APIError(.promptOutsideFrame,
                               "object \(late.object) is prompted on frame \(late.frame ?? 0), beyond max_frames \(maxFrames)")
            }
        }
        if let fillHoles, fillHoles < 0 || fillHoles > 1 << 20 {
            throw APIError(.invalidRequest, "fill_holes must be in 0...\(1 << 20)")
        }
        if precision == .bfloat16 && !Precision.bfloat16Supported {
            throw APIError(.bf16Unsupported, "precision bf16 needs a CPU with AVX-512 BF16; this daemon's CPU has none: use fp32")
        }
    }
}

/// The body of `POST /v1/jobs/{id}/prompts`: one prompt, or `{"prompts": [...]}`.
public struct AddPromptsSpec: Decodable, Sendable {
    public var prompts: [PromptSpec]

    public init(from decoder: Decoder) throws {
        let probe = try decoder.container(keyedBy: AnyCodingKey.self)
        if probe.contains(AnyCodingKey(stringValue: "prompts")) {
            try decoder.rejectUnknownKeys(["prompts"])
            prompts = try probe.decode([PromptSpec].self, forKey: AnyCodingKey(stringValue: "prompts"))
        } else {
            prompts = [try PromptSpec(from: decoder)]
        }
    }

    /// Shapes and ids; no `frame` (added prompts apply to the next frame tracked).
    public func check(limits: DaemonConfig.Limits) throws(APIError) {
        guard !prompts.isEmpty, prompts.count <= 64 else { throw APIError(.invalidPrompt, "prompts: give 1 to 64 prompts") }
        for (i, p) in prompts.enumerated() {
            try p.check(at: i)
            if p.frame != nil {
                throw APIError(.invalidPrompt, "prompts[\(i)]: omit frame: prompts added to a running job apply to the next frame tracked")
            }
        }
        guard Set(prompts.map(\.object)).count == prompts.count else {
            throw APIError(.invalidPrompt, "prompts: one prompt per object (merge box and points into one entry)")
        }
        let maskPixels = prompts.reduce(0) { $0 + $1.maskPixels }
        guard maskPixels <= limits.maxPromptPixels else {
            throw APIError(.promptsTooLarge, "the mask prompts hold \(maskPixels) pixels; this daemon accepts at most "
                           + "\(limits.maxPromptPixels) per request (limits.max_prompt_pixels)")
        }
    }
}
