// CRC32+Parallel: FileIO's CRC-32 over large inputs on the project's thread pool. The input is cut
// into pieces of `pieceSize` bytes, each piece is checksummed by one worker (`CRC32.checksum`) and
// the pieces' CRCs are joined in order with `CRC32.combine`. It lives here, not in FileIO, because
// the thread pool is Tensor's (`Parallel.forEach` on the caller's compute context) and FileIO
// depends on Foundation only.

import FileIO
import Tensor

extension CRC32 {
    /// Size of the pieces `parallelChecksum` (and `ZipArchive.checksums(of:)`) hand to one worker.
    static let pieceSize = 4 << 20

    /// The checksum of `bytes`, computed in pieces of `pieceSize` on the project's thread pool
    /// when the input is large (equal to `checksum(bytes)`).
    public static func parallelChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        parallelChecksum(bytes, pieceSize: pieceSize)
    }

    /// `parallelChecksum` with a given piece size (tests use small ones).
    static func parallelChecksum(_ bytes: UnsafeRawBufferPointer, pieceSize: Int) -> UInt32 {
        let pieces = (bytes.count + pieceSize - 1) / pieceSize
        guard pieces > 1, let base = bytes.baseAddress else { return checksum(bytes) }
        var crcs = [UInt32](repeating: 0, count: pieces)
        crcs.withUnsafeMutableBufferPointer { out in
            let results = out.baseAddress!
            Parallel.forEach(pieces) { range in
                for piece in range {
                    let start = piece * pieceSize
                    let length = min(pieceSize, bytes.count - start)
                    results[piece] = checksum(UnsafeRawBufferPointer(start: base + start, count: length))
                }
            }
        }
        var crc = crcs[0]
        for piece in 1..<pieces {
            crc = combine(crc, crcs[piece], length: min(pieceSize, bytes.count - piece * pieceSize))
        }
        return crc
    }
}
