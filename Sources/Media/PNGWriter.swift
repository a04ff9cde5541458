// PNGWriter: 8-bit grey, RGB24 and palette-indexed images to PNG through libavcodec's png encoder.
//
// Pixel layouts (row-major, no row padding):
//   grey     [H * W]      one byte per pixel (masks: 0 or 255)
//   RGB24    [H * W * 3]  R, G, B per pixel
//   indexed  [H * W]      palette index per pixel (palette masks: pixel value = object id),
//            palette [N * 3] RGB triples, N <= 256; entries past N are opaque black.

import CFFmpeg
import FileIO

/// Encodes PNG images with libavcodec and writes them atomically. Keeps one encoder per pixel
/// format and size between calls. Not thread-safe: use one writer per thread.
public final class PNGWriter {
    /// zlib level 0...9; nil = zlib's default (6).
    public let compressionLevel: Int?

    private struct Key: Hashable {
        let format: Int32
        let width: Int32
        let height: Int32
    }
    private final class Encoder {
        var context: UnsafeMutablePointer<AVCodecContext>?
        var frame: UnsafeMutablePointer<AVFrame>?
        var packet: UnsafeMutablePointer<AVPacket>?
        deinit {
            avcodec_free_context(&context)
            av_frame_free(&frame)
            av_packet_free(&packet)
        }
    }
    private var encoders: [Key: Encoder] = [:]

    public init(compressionLevel: Int? = nil) {
        FFmpegSetup.ensure()
        self.compressionLevel = compressionLevel
    }

    // MARK: - Encoding to bytes

    /// PNG bytes of an 8-bit grey image (`pixels.count == width * height`).
    public func encodeGray(_ pixels: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        try check(pixels.count, width: width, height: height, channels: 1, what: "grey image")
        return try pixels.withUnsafeBufferPointer {
            try encode(AV_PIX_FMT_GRAY8, width: width, height: height, pixels: $0, bytesPerPixel: 1, palette: nil)
        }
    }

    /// PNG bytes of a packed RGB24 image (`pixels.count == width * height * 3`).
    public func encodeRGB(_ pixels: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        try check(pixels.count, width: width, height: height, channels: 3, what: "RGB image")
        return try pixels.withUnsafeBufferPointer {
            try encode(AV_PIX_FMT_RGB24, width: width, height: height, pixels: $0, bytesPerPixel: 3, palette: nil)
        }
    }

    /// PNG bytes of an RGB image.
    public func encodeRGB(_ image: RGBImage) throws -> [UInt8] {
        try encodeRGB(image.pixels, width: image.width, height: image.height)
    }

    /// PNG bytes of an 8-bit palette-indexed image (colour type 3). `palette` holds up to 256
    /// RGB triples (`palette.count` a multiple of 3); all entries are opaque.
    public func encodeIndexed(_ indices: [UInt8], width: Int, height: Int, palette: [UInt8]) throws -> [UInt8] {
        try check(indices.count, width: width, height: height, channels: 1, what: "indexed image")
        guard palette.count % 3 == 0, palette.count <= 256 * 3 else {
            throw MediaError.invalidArgument("a PNG palette holds up to 256 RGB triples, got \(palette.count) bytes")
        }
        return try indices.withUnsafeBufferPointer {
            try encode(AV_PIX_FMT_PAL8, width: width, height: height, pixels: $0, bytesPerPixel: 1, palette: palette)
        }
    }

    // MARK: - Writing files

    /// Writes an 8-bit grey PNG to `path` atomically (temporary file + rename).
    public func writeGray(_ pixels: [UInt8], width: Int, height: Int, to path: String) throws {
        try Self.writeAtomically(try encodeGray(pixels, width: width, height: height), to: path)
    }

    /// Writes an RGB24 PNG to `path` atomically.
    public func writeRGB(_ image: RGBImage, to path: String) throws {
        try Self.writeAtomically(try encodeRGB(image), to: path)
    }

    /// Writes a palette-indexed PNG to `path` atomically.
    public func writeIndexed(_ indices: [UInt8], width: Int, height: Int, palette: [UInt8], to path: String) throws {
        try Self.writeAtomically(try encodeIndexed(indices, width: width, height: height, palette: palette), to: path)
    }

    /// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        try AtomicFile.write(bytes, to: path)
    }

    // MARK: - Internals

    private func check(_ count: Int, width: Int, height: Int, channels: Int, what: String) throws {
        guard width > 0, height > 0, width <= 32_767, height <= 32_767 else {
            throw MediaError.invalidArgument("\(what) size \(width)x\(height) is out of range")
        }
        guard count == width * height * channels else {
            throw MediaError.invalidArgument("\(what) \(width)x\(height) needs \(width * height * channels) bytes, got \(count)")
        }
    }

    private func encoder(for format: AVPixelFormat, width: Int, height: Int) throws -> Encoder {
        let key = Key(format: format.rawValue, width: Int32(width), height: Int32(height))
        if let existing = encoders[key] { return existing }
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw MediaError.encoderNotFound(output: "PNG", codec: "png")
        }
        let encoder = Encoder()
        guard let context = avcodec_alloc_context3(codec) else {
            throw MediaError.encodeFailed(output: "PNG", reason: "out of memory")
        }
        encoder.context = context
        context.pointee.width = Int32(width)
        context.pointee.height = Int32(height)
        context.pointee.pix_fmt = format
        context.pointee.time_base = AVRational(num: 1, den: 25)
        // Frame threads would delay each packet behind later frames; one image in, one out.
        context.pointee.thread_count = 1
        if let level = compressionLevel { context.pointee.compression_level = Int32(max(0, min(9, level))) }
        let opened = avcodec_open2(context, codec, nil)
        if opened < 0 {
            throw MediaError.encodeFailed(output: "PNG", reason: ffmpegErrorString(opened))
        }
        encoder.frame = av_frame_alloc()
        encoder.packet = av_packet_alloc()
        guard let frame = encoder.frame, encoder.packet != nil else {
            throw MediaError.encodeFailed(output: "PNG", reason: "out of memory")
        }
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        frame.pointee.format = format.rawValue
        let allocated = av_frame_get_buffer(frame, 0)
        if allocated < 0 {
            throw MediaError.encodeFailed(output: "PNG", reason: ffmpegErrorString(allocated))
        }
        // Encoders for a handful of sizes at most are kept (masks share the source size).
        if encoders.count >= 8 { encoders.removeAll() }
        encoders[key] = encoder
        return encoder
    }

    private func encode(_ format: AVPixelFormat, width: Int, height: Int, pixels: UnsafeBufferPointer<UInt8>,
                        bytesPerPixel: Int, palette: [UInt8]?) throws -> [UInt8] {
        let encoder = try encoder(for: format, width: width, height: height)
        guard let context = encoder.context, let frame = encoder.frame, let packet = encoder.packet else {
            throw MediaError.encodeFailed(output: "PNG", reason: "encoder not ready")
        }
        let writable = av_frame_make_writable(frame)
        if writable < 0 { throw MediaError.encodeFailed(output: "PNG", reason: ffmpegErrorString(writable)) }

        let rowBytes = width * bytesPerPixel
        let linesize = Int(frame.pointee.linesize.0)
        let plane = frame.pointee.data.0!
        for y in 0..<height {
            (plane + y * linesize).update(from: pixels.baseAddress! + y * rowBytes, count: rowBytes)
        }
        if let palette {
            // PAL8: data[1] holds 256 native-endian 32-bit 0xAARRGGBB entries.
            let entries = UnsafeMutableRawPointer(frame.pointee.data.1!).bindMemory(to: UInt32.self, capacity: 256)
            for i in 0..<256 {
                if i * 3 + 2 < palette.count {
                    entries[i] = 0xFF00_0000 | UInt32(palette[i * 3]) << 16 | UInt32(palette[i * 3 + 1]) << 8
                        | UInt32(palette[i * 3 + 2])
                } else {
                    entries[i] = 0xFF00_0000
                }
            }
        }

        var result = avcodec_send_frame(context, frame)
        if result < 0 { throw MediaError.encodeFailed(output: "PNG", reason: ffmpegErrorString(result)) }
        result = avcodec_receive_packet(context, packet)
        if result < 0 { throw MediaError.encodeFailed(output: "PNG", reason: ffmpegErrorString(result)) }
        defer { av_packet_unref(packet) }
        return Array(UnsafeBufferPointer(start: packet.pointee.data, count: Int(packet.pointee.size)))
    }
}
