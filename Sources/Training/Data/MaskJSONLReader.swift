// MaskJSONLReader: a video with samtrack's masks.jsonl (DESIGN §6; e.g. a corrected session's
// export): one line per frame, `{"frame": n, "objects": [{"id", "rle": {"size": [H, W],
// "counts"}}, ...]}`. ROOT is a folder holding `masks.jsonl` and the video (`--video`, else the
// folder's `video.*`, else its only other file), or the masks.jsonl file itself with `--video`.
// Frames without a line are not used; an object missing from a line is absent on that frame.

import Export
import Foundation

enum MaskJSONLReader {
    static func read(_ root: String, video: String?) throws -> TrainingData {
        let jsonl = root.hasSuffix(".jsonl") ? root : root + "/masks.jsonl"
        guard DataFiles.isFile(jsonl) else { throw TrainingDataError.missing(path: jsonl, what: "masks.jsonl") }
        let videoPath = try video ?? findVideo(beside: jsonl)
        let size = try DataFiles.imageSize(videoPath)
        guard let text = try? String(contentsOfFile: jsonl, encoding: .utf8) else {
            throw TrainingDataError.malformed(path: jsonl, reason: "not UTF-8 text")
        }
        var frames: [Int: TrainingFrame] = [:]
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let location = "line \(n + 1)"
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                throw TrainingDataError.malformed(path: jsonl, reason: "\(location) is not a JSON object")
            }
            guard let frame = object["frame"] as? Int, frame >= 0 else {
                throw TrainingDataError.malformed(path: jsonl, reason: "\(location) has no non-negative integer \"frame\"")
            }
            guard let objects = object["objects"] as? [[String: Any]] else {
                throw TrainingDataError.malformed(path: jsonl, reason: "\(location) has no \"objects\" list")
            }
            var masks: [Int: COCORLE] = [:]
            for entry in objects {
                guard let id = entry["id"] as? Int, id > 0 else {
                    throw TrainingDataError.malformed(path: jsonl, reason: "\(location): an object has no positive integer \"id\"")
                }
                guard let rleObject = entry["rle"], !(rleObject is NSNull) else {
                    throw TrainingDataError.noMask(path: jsonl, location: location, objectID: id)
                }
                let rle: COCORLE
                do {
                    rle = try JSONDecoder().decode(COCORLE.self, from: JSONSerialization.data(withJSONObject: rleObject))
                } catch {
                    throw TrainingDataError.malformed(path: jsonl, reason: "\(location): object \(id) has an invalid RLE (\(error))")
                }
                guard rle.width == size.width && rle.height == size.height else {
                    throw TrainingDataError.maskSize(path: jsonl + " \(location)", expectedWidth: size.width, expectedHeight: size.height,
                                                     width: rle.width, height: rle.height, image: videoPath)
                }
                masks[id] = rle
            }
            frames[frame] = TrainingFrame(image: .video(path: videoPath, index: frame), annotation: "\(jsonl) \(location)",
                                          masks: masks, width: size.width, height: size.height)
        }
        guard !frames.isEmpty else { throw TrainingDataError.empty(path: jsonl, reason: "no frame line") }
        let ordered = frames.keys.sorted().map { frames[$0]! }
        return TrainingData(format: .jsonl, root: root,
                            sequences: [TrainingSequence(name: (videoPath as NSString).lastPathComponent, frames: ordered, isVideo: true)])
    }

    static func findVideo(beside jsonl: String) throws -> String {
        let folder = (jsonl as NSString).deletingLastPathComponent
        let names = try DataFiles.list(folder.isEmpty ? "." : folder).filter { $0 != "masks.jsonl" && !$0.hasSuffix(".json") }
        if let video = names.first(where: { $0.hasPrefix("video.") }) { return folder + "/" + video }
        let files = names.filter { DataFiles.isFile(folder + "/" + $0) }
        if files.count == 1 { return folder + "/" + files[0] }
        throw TrainingDataError.missing(path: folder + "/video.mp4", what: "the video of \(jsonl) (name it video.* or give --video)")
    }
}
