// TrackerState: saves a VideoTracker's state (frame index, options, every object's conditioning
// memories and its recent memory/pointer rings) to one safetensors file and restores it, so a
// restored tracker continues with results identical to an uninterrupted one.
//
// File layout: tensors "object.<id>.cond.<frame>.memory|pointer",
// "object.<id>.recent.<frame>.memory", "object.<id>.pointer.<frame>"; a JSON document in the
// metadata key "samtrack_state" lists frames, scores and options; the metadata key
// "samtrack.crc32" holds the CRC-32 of the whole file (`Checkpoint.SafeTensorsChecksum`).
//
// Integrity: restore verifies the checksum over every byte (header and data) before any tensor
// or the JSON document is used. A damaged, cut-off or extended file is `.damaged` with the
// reader's typed cause; a state without a checksum (written before checksums existed, or by
// another tool) is `.unverifiable` and refused: a resume from unverified memories could continue
// with silently wrong masks, while refusing only costs a restart from the first frame.

import Foundation
import Checkpoint
import SAM2
import Tensor

/// Errors restoring a saved state. Each names the file; callers that resume runs treat every
/// case as "start again from the first frame" (the run library logs the description).
public enum TrackerStateError: Error, CustomStringConvertible, Equatable {
    /// The file cannot be opened, or it is an intact safetensors file but not a samtrack tracker
    /// state (no state document, or a tensor the document lists is absent).
    case unreadable(path: String, reason: String)
    /// The file is damaged (or is no safetensors file at all): it fails its checksum, is cut short
    /// or extended, or its structure is broken. `cause` is the reader's error
    /// (`CheckpointError.fileChecksumMismatch`, `.corrupt`, `.truncatedTensor`...).
    case damaged(path: String, cause: CheckpointError)
    /// The file has no checksum (saved before tracker states carried one), so its contents cannot
    /// be verified; it is not used.
    case unverifiable(path: String)
    /// The state was saved with another model.
    case modelMismatch(path: String, saved: String, current: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): not a samtrack tracker state: \(reason)"
        case let .damaged(path, cause):
            return "\(path): not a samtrack tracker state, or a damaged one; not used (the run starts again from the first frame): \(cause)"
        case let .unverifiable(path):
            return "\(path): tracker state without a checksum (saved by an older samtrack), not used: its contents cannot be verified; the run starts again from the first frame"
        case let .modelMismatch(path, saved, current):
            return "\(path): state was saved with model '\(saved)' but the tracker uses '\(current)'"
        }
    }
}

/// The JSON part of a saved state.
struct SavedTrackerState: Codable {
    struct Object: Codable {
        var id: Int
        var conditioning: [Int]
        var conditioningScores: [Float]
        var recentMemories: [Int]
        var recentPointers: [Int]
    }
    var version = 1
    var model: String
    var frameIndex: Int
    var sourceHeight: Int
    var sourceWidth: Int
    var options: TrackerOptions
    var objects: [Object]
}

extension VideoTracker {
    /// Saves the state after committing the current frame (corrections to that frame are no longer
    /// possible afterwards). Written atomically.
    public func saveState(to path: String) throws {
        commitCurrentFrame()
        var writer = SafeTensorsWriter()
        var savedObjects: [SavedTrackerState.Object] = []
        func add(_ name: String, _ memory: StoredMemory) {
            if let bits = memory.bfloat16Bits {
                writer.add(name, bfloat16Bits: bits, shape: memory.shape)
            } else {
                writer.add(name, memory.tensor)
            }
        }
        for id in objectIDs {
            let object = objects[id]!
            for entry in object.conditioning {
                add("object.\(id).cond.\(entry.frame).memory", entry.memory)
                writer.add("object.\(id).cond.\(entry.frame).pointer", Tensor(shape: [entry.pointer.count], values: entry.pointer))
            }
            for entry in object.recentMemories { add("object.\(id).recent.\(entry.frame).memory", entry.memory) }
            for entry in object.recentPointers {
                writer.add("object.\(id).pointer.\(entry.frame)", Tensor(shape: [entry.pointer.count], values: entry.pointer))
            }
            savedObjects.append(.init(id: id, conditioning: object.conditioning.map(\.frame),
                                 conditioningScores: object.conditioning.map(\.objectScore),
                                 recentMemories: object.recentMemories.map(\.frame),
                                 recentPointers: object.recentPointers.map(\.frame)))
        }
        let saved = SavedTrackerState(model: model.config.name, frameIndex: frameIndex, sourceHeight: sourceHeight,
                                      sourceWidth: sourceWidth, options: options, objects: savedObjects)
        writer.metadata["samtrack_state"] = String(decoding: try JSONEncoder().encode(saved), as: UTF8.self)
        try writer.write(to: path)
    }

    /// A tracker restored from `path` for `model`; it continues at the frame after the saved one.
    /// Every byte of the file is checked against its checksum before anything in it is used.
    /// - Throws: `TrackerStateError` (`.damaged`, `.unverifiable`, `.unreadable`, `.modelMismatch`).
    public static func restore(from path: String, model: SAM2Model) throws -> VideoTracker {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            throw TrackerStateError.unreadable(path: path, reason: "\(error)")
        }
        let contents: SafeTensorsContents
        do {
            contents = try SafeTensorsReader.read(file: file)
        } catch let error as CheckpointError {
            throw TrackerStateError.damaged(path: path, cause: error)
        }
        guard contents.isChecksumVerified else { throw TrackerStateError.unverifiable(path: path) }
        let store = contents.store, metadata = contents.metadata
        guard let json = metadata["samtrack_state"],
              let saved = try? JSONDecoder().decode(SavedTrackerState.self, from: Data(json.utf8)) else {
            throw TrackerStateError.unreadable(path: path, reason: "no samtrack_state metadata")
        }
        guard saved.model == model.config.name else {
            throw TrackerStateError.modelMismatch(path: path, saved: saved.model, current: model.config.name)
        }
        let tracker = VideoTracker(model: model, sourceHeight: saved.sourceHeight, sourceWidth: saved.sourceWidth,
                                   options: saved.options)
        let bf16 = saved.options.bfloat16Memories
        func tensor(_ name: String) throws -> Tensor {
            do { return try store.take(name) } catch { throw TrackerStateError.unreadable(path: path, reason: "\(error)") }
        }
        var restored: [Int: ObjectMemory] = [:]
        for object in saved.objects {
            var memory = ObjectMemory()
            for (frame, score) in zip(object.conditioning, object.conditioningScores) {
                let features = try tensor("object.\(object.id).cond.\(frame).memory")
                let pointer = try tensor("object.\(object.id).cond.\(frame).pointer").scalars
                memory.conditioning.append(FrameMemory(frame: frame, memory: StoredMemory(features, bfloat16: bf16),
                                                       pointer: pointer, objectScore: score))
            }
            for frame in object.recentMemories {
                memory.recentMemories.append((frame, StoredMemory(try tensor("object.\(object.id).recent.\(frame).memory"), bfloat16: bf16)))
            }
            for frame in object.recentPointers {
                memory.recentPointers.append((frame, try tensor("object.\(object.id).pointer.\(frame)").scalars))
            }
            restored[object.id] = memory
        }
        tracker.restore(frameIndex: saved.frameIndex, objects: restored)
        return tracker
    }
}
