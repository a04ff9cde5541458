// FramePreprocessor: decoded frame -> model input tensor (DESIGN §2), and RGB24 pictures.
//
// Legend: S model image size (1024 for the official checkpoints), H x W source size.
//   model input: Tensor [1, 3, S, S], channels R, G, B, row-major, values
//                (u / 255 - mean[c]) / std[c] for the RGB24 byte u of
//                `ffmpeg -i IN -vf scale=S:S:flags=bicubic -pix_fmt rgb24` (aspect ratio NOT kept).
//   RGBImage:    packed RGB24, row-major, 3 bytes per pixel, no row padding.

import CFFmpeg
import Tensor

/// A packed RGB24 picture: `pixels[(y * width + x) * 3 + c]`, c = 0 red, 1 green, 2 blue.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "RGBImage \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// Turns decoded frames into model inputs and RGB pictures. Reuses its SwsContexts and scratch
/// frames across calls (the only per-frame allocation is the returned value). Not thread-safe:
/// use one per decoding thread.
public final class FramePreprocessor {
    /// Per-channel normalisation of the official predictor (ImageNet statistics).
    public static let mean: [Double] = [0.485, 0.456, 0.406]
    public static let std: [Double] = [0.229, 0.224, 0.225]

    /// Model image size S.
    public let imageSize: Int
    /// Names the source in errors.
    public let inputName: String

    private let modelScaler: FrameScaler
    /// Model inputs handed out before, reused once their consumers let go of them.
    private var inputPool: [Tensor] = []
    private let sourceScaler: FrameScaler

    /// - Parameters:
    ///   - imageSize: S, the square model input size in pixels.
    ///   - threads: libswscale slice threads (1 = single-threaded; the result is the same).
    ///   - inputName: the input's name for error messages.
    public init(imageSize: Int, threads: Int = 1, inputName: String = "input") {
        precondition(imageSize > 0, "image size must be positive")
        self.imageSize = imageSize
        self.inputName = inputName
        modelScaler = FrameScaler(width: imageSize, height: imageSize, threads: threads)
        sourceScaler = FrameScaler(width: nil, height: nil, threads: threads)
    }

    /// The model input for `frame`: Tensor [1, 3, S, S] (see the legend above).
    public func modelInput(_ frame: DecodedFrame) throws -> Tensor {
        let scaled = try modelScaler.convert(frame, input: inputName)
        var tensor = reusableModelInput()
        tensor.withUnsafeMutablePointer { out in
            Self.normalize(rgb: scaled.pointee.data.0!, linesize: Int(scaled.pointee.linesize.0),
                           width: imageSize, height: imageSize, into: out)
        }
        if inputPool.count < Self.poolLimit { inputPool.append(tensor) }
        return tensor
    }

    /// A [1, 3, S, S] tensor to fill, taken out of the pool (so writing to it does not copy): a
    /// pooled one that every consumer has released, else a new one. `modelInput` puts it back.
    /// A fresh 12 MiB allocation per frame costs more in page faults than the normalisation
    /// itself (1080p: ~30% of the decode thread's time went to the kernel zeroing pages).
    private func reusableModelInput() -> Tensor {
        for index in inputPool.indices where inputPool[index].isUniquelyReferenced() {
            return inputPool.remove(at: index)
        }
        return Tensor(uninitialized: [1, 3, imageSize, imageSize])
    }

    /// Model inputs kept for reuse: the reader's queue plus what a consumer holds on to.
    static let poolLimit = 8

    /// RGB24 at S x S, exactly the bytes the ffmpeg CLI's bicubic scale filter produces.
    public func resizedRGB(_ frame: DecodedFrame) throws -> RGBImage {
        let scaled = try modelScaler.convert(frame, input: inputName)
        return Self.packed(scaled, width: imageSize, height: imageSize)
    }

    /// RGB24 at the frame's own resolution (for overlays and previews), converted with the same
    /// colour handling as `-pix_fmt rgb24` in the ffmpeg CLI.
    public func sourceRGB(_ frame: DecodedFrame) throws -> RGBImage {
        let converted = try sourceScaler.convert(frame, input: inputName)
        return Self.packed(converted, width: frame.width, height: frame.height)
    }

    /// Copies the rows of an RGB24 frame into a packed image.
    static func packed(_ frame: UnsafePointer<AVFrame>, width: Int, height: Int) -> RGBImage {
        let rowBytes = width * 3
        let linesize = Int(frame.pointee.linesize.0)
        let base = UnsafePointer(frame.pointee.data.0!)
        let pixels = [UInt8](unsafeUninitializedCapacity: rowBytes * height) { buffer, count in
            let dst = buffer.baseAddress!
            if linesize == rowBytes {
                dst.update(from: base, count: rowBytes * height)
            } else {
                for y in 0..<height {
                    (dst + y * rowBytes).update(from: base + y * linesize, count: rowBytes)
                }
            }
            count = rowBytes * height
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    // MARK: - Normalisation

    /// lookup[c * 256 + u] = (Float(Double(u) / 255) - Float(mean[c])) / Float(std[c]), the
    /// exact float32 arithmetic of the official loader (uint8 / 255.0 in float64, stored as
    /// float32, then float32 subtraction and division), so each value is bit-identical to it.
    static let lookup: [Float] = {
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            let m = Float(mean[c]), s = Float(std[c])
            for u in 0..<256 {
                table[c * 256 + u] = (Float(Double(u) / 255.0) - m) / s
            }
        }
        return table
    }()

    /// Normalises packed RGB24 rows (stride `linesize` bytes) into planar float [3, height, width]
    /// at `out`: HWC uint8 -> CHW float32 through the lookup table, rows split over the cores.
    public static func normalize(rgb: UnsafePointer<UInt8>, linesize: Int, width: Int, height: Int,
                                 into out: UnsafeMutablePointer<Float>) {
        let plane = width * height
        lookup.withUnsafeBufferPointer { table in
            let red = table.baseAddress!, green = red + 256, blue = red + 512
            Parallel.forEach(height, grain: max(1, 32_768 / max(width, 1))) { rows in
                for y in rows {
                    let src = rgb + y * linesize
                    let r = out + y * width
                    let g = r + plane
                    let b = g + plane
                    for x in 0..<width {
                        r[x] = red[Int(src[3 * x])]
                        g[x] = green[Int(src[3 * x + 1])]
                        b[x] = blue[Int(src[3 * x + 2])]
                    }
                }
            }
        }
    }
}
