// JSONLDataReader: a video with samtrack's masks.jsonl (DESIGN §6; e.g. a corrected session's
// export). The lines are read by Export's `MaskJSONLReader` (the one owner of that format); this
// file only turns its records into training frames. ROOT is a folder holding `masks.jsonl` and
// the video (`--video`, else the folder's `video.*`, else its only other media file), or the
// masks.jsonl file itself. The video may be anything `RandomAccessVideo` opens (a file, an image
// folder). Frames without a line are not used; an object missing from a line is absent there.

import Export
import FileIO
import Foundation
import Media

enum JSONLDataReader {
    static func read(_ root: String, video: String?) throws -> TrainingData {
        let folder: String
        if root.hasSuffix(".jsonl") {
            guard (root as NSString).lastPathComponent == OutputLayout.masksJSONLName else {
                throw TrainingDataError.missing(path: root, what: "masks.jsonl (give the folder holding it, or the file named masks.jsonl)")
            }
            let parent = (root as NSString).deletingLastPathComponent
            folder = parent.isEmpty ? "." : parent
        } else {
            folder = root
        }
        let jsonl = OutputLayout.masksJSONL(in: folder)
        guard DataFiles.isFile(jsonl) else { throw TrainingDataError.missing(path: jsonl, what: "masks.jsonl") }
        let videoPath = try video ?? findVideo(in: folder)
        let info = try DataFiles.videoInfo(videoPath)
        var frames: [Int: TrainingFrame] = [:]
        do {
            let reader = try MaskJSONLReader(directory: folder)
            while let record = try reader.next() {
                let location = "\(jsonl) line \(reader.recordCount)"
                guard record.frame >= 0, record.frame < info.frames else {
                    throw TrainingDataError.frameOutOfRange(path: jsonl, frame: record.frame, frames: info.frames, video: videoPath)
                }
                var masks: [Int: COCORLE] = [:]
                for object in record.objects {
                    guard object.id > 0 else {
                        throw TrainingDataError.malformed(path: jsonl, reason: "line \(reader.recordCount): object id \(object.id) is not positive")
                    }
                    guard object.rle.width == info.width && object.rle.height == info.height else {
                        throw TrainingDataError.maskSize(path: location, expectedWidth: info.width, expectedHeight: info.height,
                                                         width: object.rle.width, height: object.rle.height, image: videoPath)
                    }
                    masks[object.id] = object.rle
                }
                frames[record.frame] = TrainingFrame(image: .video(path: videoPath, index: record.frame), annotation: location,
                                                     masks: masks, width: info.width, height: info.height)
            }
        } catch let error as ExportError {
            // Export names the file and the line (a line that is not a masks.jsonl line, a bad RLE).
            throw TrainingDataError.malformed(path: jsonl, reason: error.description)
        } catch let error as FileError {
            throw TrainingDataError.malformed(path: jsonl, reason: error.description)
        }
        guard !frames.isEmpty else { throw TrainingDataError.empty(path: jsonl, reason: "no frame line") }
        let ordered = frames.keys.sorted().map { frames[$0]! }
        return TrainingData(format: .jsonl, root: root,
                            sequences: [TrainingSequence(name: (videoPath as NSString).lastPathComponent, frames: ordered, isVideo: true)])
    }

    /// The video beside masks.jsonl: `video.*`, else the folder's only other file (JSON files,
    /// e.g. run.json, and a masks.jsonl.partial left aside).
    static func findVideo(in folder: String) throws -> String {
        let names = try DataFiles.list(folder).filter {
            !$0.hasPrefix(OutputLayout.masksJSONLName) && !$0.hasSuffix(".json") && DataFiles.isFile(folder + "/" + $0)
        }
        if let video = names.first(where: { $0.hasPrefix("video.") }) { return folder + "/" + video }
        if names.count == 1 { return folder + "/" + names[0] }
        throw TrainingDataError.missing(path: folder + "/video.mp4",
                                        what: "the video of \(OutputLayout.masksJSONL(in: folder)) (name it video.* or give --video)")
    }
}
