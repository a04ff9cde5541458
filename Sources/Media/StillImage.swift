// StillImage: one picture file (PNG, JPEG...) decoded with its pixel values as stored, for mask
// files whose values mean something: a palette-indexed PNG (DAVIS annotations: index = object
// id) keeps its indices, an 8-bit grey PNG its levels; any other picture becomes packed RGB24.
// Decoding goes through `VideoSource` (FFmpeg's image demuxers and decoders).

import CFFmpeg

/// A decoded still picture (see the file comment).
public struct StillImage: Sendable {
    /// How the file stores its pixels; each array is [H * W] (RGB: [H * W * 3]), row-major.
    public enum Pixels: Sendable, Equatable {
        /// Palette indices (the palette itself is not kept: indices are the values).
        case indexed([UInt8])
        /// 8-bit grey levels.
        case grey([UInt8])
        /// Packed RGB24.
        case rgb([UInt8])
    }

    public let width: Int
    public let height: Int
    public let pixels: Pixels

    public init(width: Int, height: Int, pixels: Pixels) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Decodes the first picture of `path`.
    /// - Throws: `MediaError` naming the file (`.fileNotFound`, `.notMediaFile`...), or
    ///   `.notMediaFile` when it holds no picture.
    public static func load(_ path: String) throws -> StillImage {
        let source = try VideoSource(path, options: InputOptions(decoderThreads: 1))
        defer { source.close() }
        guard let decoded = try source.nextFrame() else {
            throw MediaError.notMediaFile(input: path, reason: "no picture could be decoded")
        }
        let frame = decoded.frame
        let (width, height) = (decoded.width, decoded.height)
        switch AVPixelFormat(rawValue: frame.pointee.format) {
        case AV_PIX_FMT_PAL8:
            return StillImage(width: width, height: height, pixels: .indexed(plane(frame, width: width, height: height)))
        case AV_PIX_FMT_GRAY8:
            return StillImage(width: width, height: height, pixels: .grey(plane(frame, width: width, height: height)))
        default:
            let rgb = try FramePreprocessor(imageSize: 1, inputName: path).sourceRGB(decoded)
            return StillImage(width: width, height: height, pixels: .rgb(rgb.pixels))
        }
    }

    /// The first plane's bytes, one per pixel, without row padding.
    private static func plane(_ frame: UnsafeMutablePointer<AVFrame>, width: Int, height: Int) -> [UInt8] {
        let linesize = Int(frame.pointee.linesize.0)
        let base = UnsafePointer(frame.pointee.data.0!)
        var out = [UInt8](repeating: 0, count: width * height)
        out.withUnsafeMutableBufferPointer { dst in
            for y in 0..<height { (dst.baseAddress! + y * width).update(from: base + y * linesize, count: width) }
        }
        return out
    }
}
