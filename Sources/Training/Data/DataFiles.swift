// DataFiles: the file-system and media probes the readers share: folder listings, image sizes
// (from FFmpeg's stream header), and palette or grey mask images decoded through FFmpeg.

import Export
import Foundation
import Media

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
            return (source.info.width, source.info.height)
        } catch let error as MediaError {
            throw TrainingDataError.unreadableImage(path: path, reason: error.description)
        }
    }

    /// An image decoded to RGB24 at its own size.
    static func rgb(_ path: String) throws -> RGBImage {
        guard isFile(path) else { throw TrainingDataError.missing(path: path, what: "the image") }
        do {
            let reader = try FrameReader(input: path, options: FrameReaderOptions(sourceRGB: true, maxFrames: 1))
            defer { reader.stop() }
            guard let frame = try reader.next(), let rgb = frame.rgb else {
                throw TrainingDataError.unreadableImage(path: path, reason: "no picture could be decoded")
            }
            return rgb
        } catch let error as MediaError {
            throw TrainingDataError.unreadableImage(path: path, reason: error.description)
        }
    }

    /// DAVIS palette colour -> index.
    static let paletteIndex: [RGBColor: UInt8] = {
        var table: [RGBColor: UInt8] = [:]
        for i in 0...255 { table[DAVISPalette.color(index: i)] = UInt8(i) }
        return table
    }()

    /// A palette PNG (pixel = object id, DAVIS palette) as per-object masks.
    static func paletteMasks(_ path: String) throws -> (masks: [Int: COCORLE], width: Int, height: Int) {
        let image = try rgb(path)
        let (w, h) = (image.width, image.height)
        var indices = [UInt8](repeating: 0, count: w * h)
        var last = RGBColor(red: 0, green: 0, blue: 0), lastIndex: UInt8 = 0
        for i in 0..<(w * h) {
            let color = RGBColor(red: image.pixels[3 * i], green: image.pixels[3 * i + 1], blue: image.pixels[3 * i + 2])
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
            let mask = BinaryMask(width: w, height: h, pixels: indices.map { $0 == id ? 1 : 0 })
            masks[Int(id)] = COCORLE(encoding: mask)
        }
        return (masks, w, h)
    }
}
