// FrameFeatureStore: what the frozen parts of the model (image encoder, memory encoder, memory
// attention) give each annotated frame, computed once before training:
//
// - the neck's two finest levels before conv_s0 / conv_s1 [1, C, 4h, 4w], [1, C, 2h, 2w] and the
//   image embedding [1, C, h, w] (no `no_mem_embed`: it is added for prompted samples);
// - per object, from the second frame on which it is seen: the memory-conditioned features
//   [1, C, h, w] the decoder gets when the object is tracked onto the frame ("tracked" samples);
// - per object: the target mask at the model's input size (S x S, as the official predictor
//   resizes a mask prompt: bilinear with antialias, >= 0.5).
//
// Memories are teacher-forced: the object's first frame is its conditioning frame, prompted with
// its ground-truth mask (`_use_mask_as_output`, as a DAVIS-style first-frame mask); each later
// frame's memory is encoded from its ground-truth mask, and its object pointer comes from the
// frozen heads run on the frame as a tracked frame. Frame t attends to the conditioning frame,
// the num_maskmem - 1 previous frames and up to 15 previous pointers, as the tracker selects them
// (`Tracker/ObjectMemory+Selection.swift`), with frames counted in the sequence's annotated frames.
//
// Large feature sets go to a cache folder (one safetensors file per frame, memory-mapped back);
// small ones stay in memory.

import Checkpoint
import Export
import Foundation
import Media
import SAM2
import Tensor

/// Features of one annotated frame.
public struct FrameFeatureSet: Sendable {
    /// [1, C, 4h, 4w], [1, C, 2h, 2w]: neck levels before conv_s0 / conv_s1.
    public var neck0: Tensor, neck1: Tensor
    /// [1, C, h, w]: the image embedding without `no_mem_embed`.
    public var vision: Tensor
    /// Object id -> memory-conditioned features [1, C, h, w].
    public var tracked: [Int: Tensor]
}

public final class FrameFeatureStore {
    public let model: SAM2Model
    /// Sequence -> frame -> object id -> target mask (S x S) as RLE.
    public private(set) var targets: [[[Int: COCORLE]]] = []
    /// Sequence -> object id -> index of its first frame with a non-empty mask.
    public private(set) var firstFrames: [[Int: Int]] = []
    private var inMemory: [[FrameFeatureSet]] = []
    private var files: [[String]] = []
    private let directory: String?

    /// `directory`: a folder for the features (created if needed); nil keeps them in memory.
    public init(model: SAM2Model, directory: String?) {
        self.model = model
        self.directory = directory
    }

    public var imageSize: Int { model.config.imageSize }

    /// Bytes of features one frame takes (for choosing memory or disk).
    public static func bytesPerFrame(_ config: SAM2Config, objects: Int) -> Int {
        let c = config.neck.dModel, e = config.embeddingSize
        return 4 * c * (16 * e * e + 4 * e * e + e * e * (1 + objects))
    }

    /// Computes every frame's features. `progress(done, total)` after each frame.
    public func prepare(_ data: TrainingData, progress: (Int, Int) -> Void = { _, _ in }) throws {
        if let directory { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let total = data.frameCount
        var done = 0
        for (s, sequence) in data.sequences.enumerated() {
            var sequenceTargets: [[Int: COCORLE]] = []
            var sequenceFeatures: [FrameFeatureSet] = []
            var sequenceFiles: [String] = []
            var first: [Int: Int] = [:]
            var memory = TeacherForcedMemory(model: model, frameCount: sequence.frames.count)
            var images = FrameImages(sequence: sequence, imageSize: imageSize)
            defer { images.close() }
            for (t, frame) in sequence.frames.enumerated() {
                let image = try images.image(at: t)
                let masks = try targetMasks(frame)
                for (id, mask) in masks where first[id] == nil && mask.area > 0 { first[id] = t }
                sequenceTargets.append(masks)
                let out = imageEncoder(image)
                let neck0 = out.neckFeatures[0], neck1 = out.neckFeatures[1]
                let frameFeatures = FrameFeatures(vision: out.backboneFPN[2], position: out.visionPositions[2],
                                                  highRes: (out.backboneFPN[0], out.backboneFPN[1]))
                var tracked: [Int: Tensor] = [:]
                if sequence.isVideo {
                    tracked = memory.advance(t: t, frame: frameFeatures, masks: masks, firstFrames: first)
                }
                let set = FrameFeatureSet(neck0: neck0, neck1: neck1, vision: out.backboneFPN[2], tracked: tracked)
                if let directory {
                    let path = "\(directory)/\(s)_\(t).safetensors"
                    var writer = SafeTensorsWriter()
                    writer.add("neck0", neck0)
                    writer.add("neck1", neck1)
                    writer.add("vision", set.vision)
                    for (id, features) in tracked { writer.add("tracked.\(id)", features) }
                    try writer.write(to: path)
                    sequenceFiles.append(path)
                } else {
                    sequenceFeatures.append(set)
                }
                done += 1
                progress(done, total)
            }
            targets.append(sequenceTargets)
            firstFrames.append(first)
            inMemory.append(sequenceFeatures)
            files.append(sequenceFiles)
        }
    }

    func imageEncoder(_ image: Tensor) -> ImageEncoderOutput {
        model.imageEncoder(image, keepIntermediates: true)
    }

    /// The features of frame t of sequence s.
    public func features(sequence s: Int, frame t: Int) throws -> FrameFeatureSet {
        if directory == nil { return inMemory[s][t] }
        let store = try SafeTensorsReader.load(path: files[s][t])
        var tracked: [Int: Tensor] = [:]
        for key in store.orderedKeys where key.hasPrefix("tracked.") {
            if let id = Int(key.dropFirst("tracked.".count)) { tracked[id] = try store.take(key) }
        }
        return FrameFeatureSet(neck0: try store.take("neck0"), neck1: try store.take("neck1"), vision: try store.take("vision"),
                               tracked: tracked)
    }

    /// The target of object `id` on frame t of sequence s: S x S, row-major, 0 or 1.
    public func target(sequence s: Int, frame t: Int, object id: Int) -> [UInt8] {
        guard let rle = targets[s][t][id] else { return [UInt8](repeating: 0, count: imageSize * imageSize) }
        return rle.decoded().pixels
    }

    /// Every object's mask at S x S, as the official predictor resizes mask prompts.
    func targetMasks(_ frame: TrainingFrame) throws -> [Int: COCORLE] {
        var out: [Int: COCORLE] = [:]
        for (id, rle) in frame.masks {
            out[id] = COCORLE(encoding: Self.resize(rle.decoded(), to: imageSize))
        }
        return out
    }

    /// A source-size mask at S x S: bilinear with antialias, then >= 0.5 (`add_new_mask`).
    public static func resize(_ mask: BinaryMask, to size: Int) -> BinaryMask {
        if mask.width == size && mask.height == size { return mask }
        let source = Tensor(shape: [1, 1, mask.height, mask.width], values: mask.pixels.map { Float($0) })
        let resized = source.interpolate(height: size, width: size, mode: .bilinear(antialias: true))
        return BinaryMask(width: size, height: size, pixels: resized.scalars.map { $0 >= 0.5 ? 1 : 0 })
    }
}

/// Decodes a sequence's pictures at the model's input size: image files one by one, a video's
/// frames by number through `RandomAccessVideo` (the same pixels `samtrack track` feeds the model).
struct FrameImages {
    let sequence: TrainingSequence
    let imageSize: Int
    private var video: RandomAccessVideo?
    private var videoPath: String?

    init(sequence: TrainingSequence, imageSize: Int) {
        self.sequence = sequence
        self.imageSize = imageSize
    }

    /// [1, 3, S, S] of frame t, whose decoded size must be the annotation's.
    mutating func image(at t: Int) throws -> Tensor {
        let frame = sequence.frames[t]
        let decoded: VideoFrame
        switch frame.image {
        case let .file(path):
            do {
                let reader = try FrameReader(input: path, options: FrameReaderOptions(imageSize: imageSize, maxFrames: 1))
                defer { reader.stop() }
                guard let next = try reader.next() else {
                    throw TrainingDataError.unreadableImage(path: path, reason: "no picture could be decoded")
                }
                decoded = next
            } catch let error as MediaError {
                throw TrainingDataError.unreadableImage(path: path, reason: error.description)
            }
            guard decoded.width == frame.width && decoded.height == frame.height else {
                throw TrainingDataError.maskSize(path: frame.annotation, expectedWidth: decoded.width, expectedHeight: decoded.height,
                                                 width: frame.width, height: frame.height, image: frame.image.path)
            }
            return decoded.image!
        case let .video(path, index):
            do {
                if videoPath != path {
                    video?.close()
                    video = try RandomAccessVideo(path)
                    videoPath = path
                }
                guard index < video!.frameCount else {
                    throw TrainingDataError.frameOutOfRange(path: frame.annotation, frame: index, frames: video!.frameCount, video: path)
                }
                let info = video!.info
                guard info.width == frame.width && info.height == frame.height else {
                    throw TrainingDataError.maskSize(path: frame.annotation, expectedWidth: info.width, expectedHeight: info.height,
                                                     width: frame.width, height: frame.height, image: frame.image.path)
                }
                return try video!.modelInput(index, imageSize: imageSize)
            } catch let error as MediaError {
                throw TrainingDataError.unreadableImage(path: frame.image.path, reason: error.description)
            }
        }
    }

    func close() { video?.close() }
}
