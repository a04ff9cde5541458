// ImageHeader: the pixel size of a PNG or JPEG file from its header, without decoding it, so
// that a sequence of thousands of frames is checked for one size in a moment. Other formats are
// opened with FFmpeg.
//
// PNG: the 8-byte signature, then the IHDR chunk: length, "IHDR", width and height as 32-bit
// big-endian integers (PNG specification, section 11.2.2).
// JPEG: markers from SOI (FF D8); each segment is FF, a marker byte and a 16-bit big-endian length
// that counts itself; the first start-of-frame segment (C0-CF except C4 DHT, C8 JPG, CC DAC)
// holds precision (1 byte), height and width (2 bytes each) (ITU T.81, B.2.2).

import Foundation

enum ImageHeader {
    /// Width and height of the image file at `path`.
    /// - Throws: `.fileNotFound`, `.cannotOpen` (permissions...), `.notMediaFile` (no readable
    ///   header), each naming `path`.
    static func size(of path: String) throws -> (width: Int, height: Int) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            let reason = String(cString: strerror(errno))
            if errno == ENOENT || errno == ENOTDIR { throw MediaError.fileNotFound(input: path, reason: reason) }
            throw MediaError.cannotOpen(input: path, reason: reason)
        }
        defer { close(descriptor) }
        let reader = Reader(descriptor: descriptor)
        let start = reader.bytes(at: 0, count: 8)
        if start == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] {
            let header = reader.bytes(at: 8, count: 16)
            guard header.count == 16, Array(header[4..<8]) == Array("IHDR".utf8) else {
                throw MediaError.notMediaFile(input: path, reason: "PNG without an IHDR header")
            }
            let width = Int(Reader.be32(header, 8)), height = Int(Reader.be32(header, 12))
            guard width > 0, height > 0 else { throw MediaError.notMediaFile(input: path, reason: "PNG of size \(width)x\(height)") }
            return (width, height)
        }
        if start.count >= 3 && start[0] == 0xFF && start[1] == 0xD8 && start[2] == 0xFF {
            return try jpegSize(reader, path: path)
        }
        // Another format: let FFmpeg decode it.
        let source = try VideoSource(path, options: InputOptions(decoderThreads: 1))
        defer { source.close() }
        guard let frame = try source.nextFrame(), frame.width > 0, frame.height > 0 else {
            throw MediaError.notMediaFile(input: path, reason: "no picture could be decoded")
        }
        return (frame.width, frame.height)
    }

    private static func jpegSize(_ reader: Reader, path: String) throws -> (width: Int, height: Int) {
        var offset: Int64 = 2
        while true {
            let marker = reader.bytes(at: offset, count: 2)
            guard marker.count == 2, marker[0] == 0xFF else { break }
            if marker[1] == 0xFF { offset += 1; continue }  // fill byte
            let code = marker[1]
            if code == 0x01 || (0xD0...0xD8).contains(code) { offset += 2; continue }  // no length
            if code == 0xD9 || code == 0xDA { break }  // end of image or scan before any frame header
            let length = reader.bytes(at: offset + 2, count: 2)
            guard length.count == 2 else { break }
            let segment = Int64(length[0]) << 8 | Int64(length[1])
            guard segment >= 2 else { break }
            if (0xC0...0xCF).contains(code) && code != 0xC4 && code != 0xC8 && code != 0xCC {
                let frame = reader.bytes(at: offset + 4, count: 5)
                guard frame.count == 5 else { break }
                let height = Int(frame[1]) << 8 | Int(frame[2]), width = Int(frame[3]) << 8 | Int(frame[4])
                guard width > 0, height > 0 else { break }
                return (width, height)
            }
            offset += 2 + segment
        }
        throw MediaError.notMediaFile(input: path, reason: "JPEG without a readable frame header")
    }

    /// Positioned reads of a file.
    private struct Reader {
        let descriptor: Int32

        /// Up to `count` bytes at `offset` (fewer at the end of the file).
        func bytes(at offset: Int64, count: Int) -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: count)
            let read = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(offset)) }
            return read > 0 ? Array(buffer.prefix(read)) : []
        }

        static func be32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
            UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
        }
    }
}
