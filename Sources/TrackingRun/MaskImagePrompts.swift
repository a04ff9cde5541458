// MaskImagePrompts: what a mask picture given as a prompt holds. A DAVIS annotation (the official
// `tools/vos_inference.py` input) is a palette PNG whose pixel values are object ids; a grey PNG
// can hold ids the same way; a binary mask (0 and 255, or soft edges up to 255) is one object.
//
// - Every object of a file (`objects`): the file must store values (palette or 8-bit grey); each
//   value v > 0 is object v, as vos_inference.py reads it (`np.unique` of the array).
// - One object given its id (`singleObject`): the non-zero pixels, unless the file is plainly an
//   id map, which is refused rather than merged into one object: a palette PNG with two or more
//   non-zero indices, or a grey PNG with two or more non-zero levels none of which is 255 (a soft
//   binary mask reaches 255; an id map of DAVIS's few objects does not).

import Export
import Media

/// Why a mask picture cannot be used as asked.
public enum MaskImageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// One object was asked for, but the picture holds several (`ids`: its non-zero values).
    case severalObjects(path: String, ids: [Int], palette: Bool)
    /// Every object was asked for, but the picture is a colour image (its values are not ids).
    case colourImage(path: String)
    /// Every object was asked for, but every pixel is 0.
    case noObjects(path: String)

    public var description: String {
        switch self {
        case let .severalObjects(path, ids, palette):
            let shown = ids.prefix(8).map(String.init).joined(separator: ", ") + (ids.count > 8 ? ", ..." : "")
            return "\(path) is \(palette ? "a palette" : "a grey") image holding \(ids.count) object ids (\(shown)), "
                + "not one mask: give it without an id to prompt every object it holds (pixel value = object id)"
        case let .colourImage(path):
            return "\(path) is a colour image: prompting every object of a mask file needs a palette (DAVIS) or 8-bit grey PNG "
                + "whose pixel values are object ids; for one object give ID:\(path)"
        case let .noObjects(path):
            return "\(path) holds no object: every pixel is 0"
        }
    }
}

/// Reads prompts out of mask pictures (see the file comment).
public enum MaskImagePrompts {
    /// Every object `image` holds, by increasing id: value v > 0 is object v.
    public static func objects(in image: StillImage, path: String) throws(MaskImageError) -> [(id: Int, mask: BinaryMask)] {
        let values: [UInt8]
        switch image.pixels {
        case let .indexed(v), let .grey(v): values = v
        case .rgb: throw .colourImage(path: path)
        }
        let ids = presentValues(values)
        guard !ids.isEmpty else { throw .noObjects(path: path) }
        return ids.map { id in
            (id, BinaryMask(width: image.width, height: image.height, pixels: values.map { Int($0) == id ? 1 : 0 }))
        }
    }

    /// The one object `image` holds: its non-zero pixels (any non-zero channel of a colour image).
    /// Throws `.severalObjects` for an id map (see the file comment).
    public static func singleObject(in image: StillImage, path: String) throws(MaskImageError) -> BinaryMask {
        let values: [UInt8]
        switch image.pixels {
        case let .indexed(v):
            let ids = presentValues(v)
            if ids.count > 1 { throw .severalObjects(path: path, ids: ids, palette: true) }
            values = v
        case let .grey(v):
            let levels = presentValues(v)
            if levels.count > 1 && !levels.contains(255) { throw .severalObjects(path: path, ids: levels, palette: false) }
            values = v
        case let .rgb(rgb):
            values = (0..<(image.width * image.height)).map { i in rgb[3 * i] | rgb[3 * i + 1] | rgb[3 * i + 2] }
        }
        return BinaryMask(width: image.width, height: image.height, pixels: values.map { $0 != 0 ? 1 : 0 })
    }

    /// The distinct non-zero values, ascending.
    private static func presentValues(_ values: [UInt8]) -> [Int] {
        var seen = [Bool](repeating: false, count: 256)
        for v in values { seen[Int(v)] = true }
        return (1..<256).filter { seen[$0] }
    }
}
