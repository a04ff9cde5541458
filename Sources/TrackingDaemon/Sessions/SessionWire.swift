// SessionWire: the JSON of the session API (DESIGN §7.2) — request bodies decoded strictly, and
// the per-frame answer every prompt and propagation step gives: each object's COCO RLE mask at the
// source size, its presence score, area and box.

import Foundation
import Export
import SAM2
import Tensor
import Tracker
import TrackingRun

/// The body of `POST /v1/sessions`.
struct SessionCreateSpec: Decodable {
    var media: String
    var model: String?

    enum CodingKeys: String, CodingKey, CaseIterable { case media, model }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        media = try c.decode(String.self, forKey: .media)
        model = try c.decodeIfPresent(String.self, forKey: .model)
    }
}

/// The body of `POST /v1/sessions/{id}/prompts`.
struct SessionPromptSpec: Decodable {
    var frame: Int
    var object: Int
    var points: [[Double]]?
    var box: [Double]?
    var mask: COCORLE?
    /// Replace the object's earlier clicks on this frame (default true, as the official predictor).
    var clear: Bool
    /// Return the decoder's candidate masks with their predicted IoU (a single click).
    var multimask: Bool

    enum CodingKeys: String, CodingKey, CaseIterable { case frame, object, points, box, mask, clear, multimask }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        frame = try c.decode(Int.self, forKey: .frame)
        object = try c.decode(Int.self, forKey: .object)
        points = try c.decodeIfPresent([[Double]].self, forKey: .points)
        box = try c.decodeIfPresent([Double].self, forKey: .box)
        mask = try c.decodeIfPresent(COCORLE.self, forKey: .mask)
        clear = try c.decodeIfPresent(Bool.self, forKey: .clear) ?? true
        multimask = try c.decodeIfPresent(Bool.self, forKey: .multimask) ?? false
    }

    /// The same shape checks as a job's prompt (`PromptSpec.check`), then the frame's.
    func check() throws(APIError) -> PromptSpec {
        let spec = PromptSpec(object: object, frame: frame, box: box, points: points, mask: mask)
        try spec.check(at: 0)
        return spec
    }
}

/// The body of `POST /v1/sessions/{id}/propagate`.
struct PropagateSpec: Decodable {
    enum Direction: String, Decodable { case forward, backward, both }
    /// First frame (default: the earliest prompted frame for forward and both, the last prompted
    /// frame for backward).
    var from: Int?
    var direction: Direction
    /// Last frame to track, inclusive, in the direction of travel (forward or backward only).
    var to: Int?

    enum CodingKeys: String, CodingKey, CaseIterable { case from, direction, to }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        from = try c.decodeIfPresent(Int.self, forKey: .from)
        to = try c.decodeIfPresent(Int.self, forKey: .to)
        direction = try c.decodeIfPresent(Direction.self, forKey: .direction) ?? .forward
    }
}

/// One object's mask on one frame, as the API sends it.
struct ObjectMaskView: Encodable {
    var id: Int
    var score: Float
    var area: Int
    var bbox: [Int]
    var rle: COCORLE

    init(_ record: MaskRecord) {
        id = record.id
        score = record.score.isFinite ? record.score : 0
        area = record.area
        bbox = record.bbox.array
        rle = record.rle
    }
}

/// Every object's mask on one frame.
struct FrameMasksView: Encodable {
    var frame: Int
    var objects: [ObjectMaskView]
}

/// A decoder candidate for an ambiguous click.
struct CandidateView: Encodable {
    var rle: COCORLE
    var iou: Float
}

/// The answer to a prompt: the frame's masks, and candidates when asked for.
struct PromptReplyView: Encodable {
    var frame: Int
    var objects: [ObjectMaskView]
    var candidates: [CandidateView]?
}

enum SessionMasks {
    /// The records of a predictor frame's objects at the source size (mask = logits > 0).
    static func records(_ frame: PredictorFrame, width: Int, height: Int) throws -> [MaskRecord] {
        try frame.objects.sorted { $0.objectID < $1.objectID }.map { result in
            MaskRecord(ObjectMask(id: result.objectID, score: result.objectScore,
                                  mask: try BinaryMask(logits: result.lowResLogits, upsampledToHeight: height, width: width)))
        }
    }

    /// A candidate's mask at the source size.
    static func candidate(_ candidate: MaskCandidate, width: Int, height: Int) throws -> CandidateView {
        let mask = try BinaryMask(logits: candidate.lowResLogits, upsampledToHeight: height, width: width)
        return CandidateView(rle: COCORLE(encoding: mask), iou: candidate.iou.isFinite ? candidate.iou : 0)
    }
}
