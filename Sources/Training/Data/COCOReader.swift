// COCOReader: a COCO instances file (`{"images": [{"id", "file_name", "width", "height"}],
// "annotations": [{"id", "image_id", "segmentation"}]}`) beside its images. The file is ROOT
// itself when it ends in .json, else `ROOT/annotations.json`, `ROOT/instances*.json` or the only
// .json in ROOT; each image's `file_name` is looked up beside the file, then in `images/`.
// Segmentations are RLE (`counts` compressed or a list) or polygons (filled at pixel centres,
// even-odd rule). Each annotated image is a one-frame sequence whose objects are its annotations
// (ids 1, 2, ... in file order).

import Export
import Foundation

enum COCOReader {
    /// The instances file of a folder.
    static func annotationFile(in root: String) throws -> String {
        if root.hasSuffix(".json") && DataFiles.isFile(root) { return root }
        let names = try DataFiles.list(root).filter { $0.hasSuffix(".json") }
        if names.contains("annotations.json") { return root + "/annotations.json" }
        let instances = names.filter { $0.hasPrefix("instances") }
        if instances.count == 1 { return root + "/" + instances[0] }
        if names.count == 1 { return root + "/" + names[0] }
        throw TrainingDataError.missing(path: root, what: "a COCO instances file (annotations.json)")
    }

    static func read(_ root: String) throws -> TrainingData {
        let file = try annotationFile(in: root)
        let folder = (file as NSString).deletingLastPathComponent
        guard let data = FileManager.default.contents(atPath: file) else { throw TrainingDataError.missing(path: file, what: "the file") }
        let json: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw TrainingDataError.malformed(path: file, reason: "the top level is not a JSON object")
            }
            json = object
        } catch let error as TrainingDataError {
            throw error
        } catch {
            throw TrainingDataError.malformed(path: file, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let images = json["images"] as? [[String: Any]], let annotations = json["annotations"] as? [[String: Any]] else {
            throw TrainingDataError.malformed(path: file, reason: "a COCO instances file needs \"images\" and \"annotations\" lists")
        }
        var byID: [Int: (name: String, width: Int?, height: Int?)] = [:]
        var order: [Int] = []
        for (i, image) in images.enumerated() {
            guard let id = image["id"] as? Int, let name = image["file_name"] as? String else {
                throw TrainingDataError.malformed(path: file, reason: "images[\(i)] needs an integer \"id\" and a \"file_name\"")
            }
            byID[id] = (name, image["width"] as? Int, image["height"] as? Int)
            order.append(id)
        }
        var masksByImage: [Int: [COCORLE]] = [:]
        for (i, annotation) in annotations.enumerated() {
            let label = "annotations[\(i)]" + ((annotation["id"] as? Int).map { " (id \($0))" } ?? "")
            guard let imageID = annotation["image_id"] as? Int else {
                throw TrainingDataError.malformed(path: file, reason: "\(label) has no integer \"image_id\"")
            }
            guard let image = byID[imageID] else { throw TrainingDataError.unknownImage(path: file, annotation: label, imageID: imageID) }
            guard let segmentation = annotation["segmentation"], !(segmentation is NSNull) else {
                throw TrainingDataError.noMask(path: file, location: label, objectID: annotation["id"] as? Int ?? i)
            }
            let rle = try mask(segmentation, label: label, file: file, width: image.width, height: image.height)
            masksByImage[imageID, default: []].append(rle)
        }
        var sequences: [TrainingSequence] = []
        for id in order {
            guard let masks = masksByImage[id], let image = byID[id] else { continue }
            let candidates = [folder + "/" + image.name, folder + "/images/" + image.name, root + "/" + image.name]
            guard let path = candidates.first(where: DataFiles.isFile) else {
                throw TrainingDataError.missing(path: candidates[0], what: "image \(id) of \(file)")
            }
            let size = try DataFiles.imageSize(path)
            for rle in masks where rle.width != size.width || rle.height != size.height {
                throw TrainingDataError.maskSize(path: file, expectedWidth: size.width, expectedHeight: size.height,
                                                 width: rle.width, height: rle.height, image: path)
            }
            var objects: [Int: COCORLE] = [:]
            for (k, rle) in masks.enumerated() { objects[k + 1] = rle }
            let frame = TrainingFrame(image: .file(path), annotation: file, masks: objects, width: size.width, height: size.height)
            sequences.append(TrainingSequence(name: image.name, frames: [frame], isVideo: false))
        }
        guard !sequences.isEmpty else { throw TrainingDataError.empty(path: file, reason: "no image has an annotation") }
        return TrainingData(format: .coco, root: root, sequences: sequences)
    }

    /// An RLE dict or a polygon list as RLE.
    static func mask(_ segmentation: Any, label: String, file: String, width: Int?, height: Int?) throws -> COCORLE {
        if let rle = segmentation as? [String: Any] {
            guard let size = rle["size"] as? [Int], size.count == 2 else {
                throw TrainingDataError.malformed(path: file, reason: "\(label): RLE needs \"size\": [H, W]")
            }
            do {
                if let counts = rle["counts"] as? String {
                    return try COCORLE(height: size[0], width: size[1], compressed: counts)
                }
                if let counts = rle["counts"] as? [Int], counts.allSatisfy({ $0 >= 0 && $0 <= Int(UInt32.max) }) {
                    return try COCORLE(height: size[0], width: size[1], counts: counts.map { UInt32($0) })
                }
            } catch let error as ExportError {
                throw TrainingDataError.malformed(path: file, reason: "\(label): \(error.description)")
            }
            throw TrainingDataError.malformed(path: file, reason: "\(label): RLE \"counts\" must be a string or a list of counts")
        }
        guard let polygons = segmentation as? [[Double]] else {
            throw TrainingDataError.malformed(path: file, reason: "\(label): segmentation must be an RLE object or a list of polygons")
        }
        guard let width, let height, width > 0, height > 0 else {
            throw TrainingDataError.malformed(path: file, reason: "\(label): polygons need the image's \"width\" and \"height\"")
        }
        for polygon in polygons where polygon.count < 6 || polygon.count % 2 != 0 {
            throw TrainingDataError.malformed(path: file, reason: "\(label): a polygon needs at least 3 (x, y) pairs")
        }
        return COCORLE(encoding: PolygonRaster.fill(polygons, width: width, height: height))
    }
}

/// Polygon filling for COCO segmentations: a pixel is inside when its centre is (even-odd rule
/// over all the polygons of one object). pycocotools rasterises at 5x and can differ by a pixel
/// along edges.
enum PolygonRaster {
    static func fill(_ polygons: [[Double]], width: Int, height: Int) -> BinaryMask {
        var pixels = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            let cy = Double(y) + 0.5
            var crossings: [Double] = []
            for polygon in polygons {
                let n = polygon.count / 2
                for i in 0..<n {
                    let (x0, y0) = (polygon[2 * i], polygon[2 * i + 1])
                    let (x1, y1) = (polygon[2 * ((i + 1) % n)], polygon[2 * ((i + 1) % n) + 1])
                    if (y0 <= cy) != (y1 <= cy) {
                        crossings.append(x0 + (cy - y0) / (y1 - y0) * (x1 - x0))
                    }
                }
            }
            crossings.sort()
            var k = 0
            while k + 1 < crossings.count {
                let start = max(0, Int((crossings[k] - 0.5).rounded(.up)))
                let end = min(width - 1, Int((crossings[k + 1] - 0.5).rounded(.down)))
                if start <= end { for x in start...end { pixels[y * width + x] = 1 } }
                k += 2
            }
        }
        return BinaryMask(width: width, height: height, pixels: pixels)
    }
}
