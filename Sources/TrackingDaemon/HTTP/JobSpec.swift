// JobSpec: the JSON body of `POST /v1/jobs` (DESIGN §7) and of `POST /v1/jobs/{id}/prompts`,
// decoded strictly (unknown keys are errors). Each prompt is TrackingRun's `PromptSpec` (shared
// with the CLI's prompts file), turned into the library's `TrackingPrompt`s.
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

extension PromptSpec {
    /// `validate(at:)` (TrackingRun's `PromptSpec`, the one decoder of JSON prompts) as the
    /// API's 400 `invalid_prompt`.
    public func check(at index: Int) throws(APIError) {
        do { try validate(at: index) } catch { throw APIError(.invalidPrompt, error.message) }
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
        prompts = try PromptList(from: decoder).prompts
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
