// DataFiles: the file-system and media probes the readers share: folder listings, image sizes
// (from FFmpeg's stream header), video frame counts, and annotation pictures as object masks.

import Export
import Foundation
import Media
import TrackingRun

enum DataFiles {
    static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    static func isFile(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && !directory.boolValue
    }

    /// Names in a folder, sorted, hidden files left out.
    static func list(_ path: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw TrainingDataError.missing(path: path, what: "the folder")
        }
    }

    /// Width and height of an image or video, from its stream header.
    static func imageSize(_ path: String) throws -> (width: Int, height: Int) {
        guard isFile(path) else { throw TrainingDataError.missing(path: path, what: "the image") }
        do {
            let source = try VideoSource(path)
            defer { source.close() }
            guard source.info.width > 0 && source.info.height > 0 else {
                throw TrainingDataError.unreadableImage(path: path, reason: "no picture size in its header")
            }
            return (source.info.width, source.info.height)
        } catch let error as MediaError {
            throw TrainingDataError.unreadableImage(path: path, reason: error.description)
        }
    }

    /// Width, height and frame count of a video (or image folder) read at random.
    static func videoInfo(_ path: String) throws -> (width: Int, height: Int, frames: Int) {
        do {
            let video = try RandomAccessVideo(path, cacheBytes: 0)
            defer { video.close() }
            return (video.info.width, video.info.height, video.frameCount)
        } catch let error as MediaError {
            if case .fileNotFound = error { throw TrainingDataError.missing(path: path, what: "the video") }
            throw TrainingDataError.unreadableImage(path: path, reason: error.description)
        }
    }

    /// DAVIS palette colour -> index (annotations saved as RGB in the palette's colours).
    static let paletteIndex: [RGBColor: UInt8] = {
        var table: [RGBColor: UInt8] = [:]
        for i in 0...255 { table[DAVISPalette.color(index: i)] = UInt8(i) }
        return table
    }()

    /// An annotation picture as per-object masks: a palette or grey PNG's values are object ids
    /// (`MaskImagePrompts.objects`, the rule `samtrack track --mask` follows); an all-zero picture
    /// has no object; an RGB picture must use the DAVIS palette's colours.
    static func annotationMasks(_ path: String) throws -> (masks: [Int: COCORLE], width: Int, height: Int) {
        guard isFile(path) else { throw TrainingDataError.missing(path: path, what: "the annotation") }
        let image: StillImage
        do {
            image = try StillImage.load(path)
        } catch let error as MediaError {
            throw TrainingDataError.unreadableImage(path: path, reason: error.description)
        }
        var masks: [Int: COCORLE] = [:]
        do {
            for (id, mask) in try MaskImagePrompts.objects(in: image, path: path) { masks[id] = COCORLE(encoding: mask) }
        } catch .noObjects {
        } catch .colourImage {
            guard case let .rgb(pixels) = image.pixels else { return (masks, image.width, image.height) }
            masks = try paletteColourMasks(pixels, width: image.width, height: image.height, path: path)
        } catch {
            throw TrainingDataError.malformed(path: path, reason: error.description)
        }
        return (masks, image.width, image.height)
    }

    /// RGB pixels in the DAVIS palette's colours as per-object masks (colour index = object id).
    static func paletteColourMasks(_ pixels: [UInt8], width w: Int, height h: Int, path: String) throws -> [Int: COCORLE] {
        var indices = [UInt8](repeating: 0, count: w * h)
        var last = RGBColor(red: 0, green: 0, blue: 0), lastIndex: UInt8 = 0
        for i in 0..<(w * h) {
            let color = RGBColor(red: pixels[3 * i], green: pixels[3 * i + 1], blue: pixels[3 * i + 2])
            if color != last {
                guard let index = paletteIndex[color] else {
                    throw TrainingDataError.unknownColour(path: path, x: i % w, y: i / w, red: color.red, green: color.green, blue: color.blue)
                }
                last = color
                lastIndex = index
            }
            indices[i] = lastIndex
        }
        var masks: [Int: COCORLE] = [:]
        for id in Set(indices) where id != 0 {
            masks[Int(id)] = COCORLE(encoding: BinaryMask(width: w, height: h, pixels: indices.map { $0 == id ? 1 : 0 }))
        }
        return masks
    }
}
