// CRC32: the zip checksum (IEEE 802.3 polynomial, reflected), used to verify the small entries
// of a checkpoint (the pickle, the byte-order record). Tensor storages are not checksummed:
// that would read a 900 MB checkpoint once more before any tensor is used.

/// CRC-32 as zip computes it (polynomial 0xEDB88320, initial value and final xor 0xFFFFFFFF).
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index -> UInt32 in
        var value = UInt32(index)
        for _ in 0..<8 {
            value = (value & 1) != 0 ? (0xEDB8_8320 ^ (value >> 1)) : (value >> 1)
        }
        return value
    }

    /// The checksum of `bytes`.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes {
                crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
        }
        return crc ^ 0xFFFF_FFFF
    }
}
