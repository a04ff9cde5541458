// DAVISReader: the DAVIS layout, `ROOT/JPEGImages/<sequence>/<frame>.jpg` with
// `ROOT/Annotations/<sequence>/<frame>.png` (palette PNGs, pixel value = object id, DAVIS
// palette). Every annotation needs its image (same name stem, .jpg/.jpeg/.png) of the same size;
// images without an annotation are not used (a DAVIS test set annotates only the first frame).
// Sequences and frames are in file-name order; a sequence folder without annotations is skipped.

import Export
import Foundation

enum DAVISReader {
    static let imageExtensions = ["jpg", "jpeg", "png", "JPG", "JPEG", "PNG"]

    static func read(_ root: String) throws -> TrainingData {
        let images = root + "/JPEGImages", annotations = root + "/Annotations"
        guard DataFiles.isDirectory(images) else { throw TrainingDataError.missing(path: images, what: "the JPEGImages folder") }
        guard DataFiles.isDirectory(annotations) else { throw TrainingDataError.missing(path: annotations, what: "the Annotations folder") }
        var sequences: [TrainingSequence] = []
        for name in try DataFiles.list(annotations) where DataFiles.isDirectory(annotations + "/" + name) {
            let folder = annotations + "/" + name
            var frames: [TrainingFrame] = []
            for file in try DataFiles.list(folder) where file.lowercased().hasSuffix(".png") {
                let annotation = folder + "/" + file
                let stem = String(file.dropLast(4))
                guard let image = imageExtensions.map({ "\(images)/\(name)/\(stem).\($0)" }).first(where: DataFiles.isFile) else {
                    throw TrainingDataError.missing(path: "\(images)/\(name)/\(stem).jpg", what: "the image of annotation \(annotation)")
                }
                let (masks, w, h) = try DataFiles.annotationMasks(annotation)
                let size = try DataFiles.imageSize(image)
                guard size.width == w && size.height == h else {
                    throw TrainingDataError.maskSize(path: annotation, expectedWidth: size.width, expectedHeight: size.height,
                                                     width: w, height: h, image: image)
                }
                frames.append(TrainingFrame(image: .file(image), annotation: annotation, masks: masks, width: w, height: h))
            }
            if !frames.isEmpty { sequences.append(TrainingSequence(name: name, frames: frames, isVideo: true)) }
        }
        guard !sequences.isEmpty else { throw TrainingDataError.empty(path: annotations, reason: "no sequence folder holds an annotation PNG") }
        return TrainingData(format: .davis, root: root, sequences: sequences)
    }
}
