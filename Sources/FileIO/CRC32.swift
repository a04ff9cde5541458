// CRC32: the zip checksum (IEEE 802.3 polynomial, reflected). Checkpoint verifies every entry of
// a checkpoint archive and the whole of a checksummed safetensors file with it; ZipWriter
// stores it for every entry it writes.
//
// Speed: slicing-by-8 (eight 256-entry tables; each step folds 8 input bytes into the CRC with
// eight independent table lookups) instead of one lookup per byte; inputs of 4 KiB and more run
// as four lanes (four quarters of the input, four independent CRCs in one loop, so that one
// lane's table lookups overlap the others' instead of waiting on a single dependency chain):
// ~3.1 GB/s per core against ~1.45 GB/s for one lane (zlib 1.2.13's crc32: ~3.3 GB/s; figures in
// Tools/bench/README.md). Lanes are joined with `combine`, which appends a CRC to the CRC of what
// precedes it without reading the bytes again; Checkpoint uses the same to checksum large inputs
// in parallel pieces (`CRC32.parallelChecksum`, which needs the thread pool and so lives there).
//
// Inlined into callers: `checksum`, `update` and their loop are `@inlinable` and always inlined,
// so that they are compiled with the caller's optimisation. Checkpoint and Export are built with
// -O even in debug builds (Package.swift's numeric settings) and FileIO is not: called across the
// module boundary, the loop would run unoptimised in debug builds at ~1/30 of its speed, and every
// test that loads a checkpoint would pay for it.
//
// Combining, in brief: with the reflected polynomial P, crc(A || B) = crc(A) * x^(8 |B|) mod P
// xor crc(B) (the initial value and final xor cancel out, because both CRCs carry them). The
// factor x^(8 |B|) mod P is built by squaring x^8 (powers x^(2^k * 8)) and multiplying the
// powers that match the bits of |B|: O(log |B|) products of 32 x 32 bits in GF(2).

/// CRC-32 as zip computes it (polynomial 0xEDB88320 reflected, initial value and final xor
/// 0xFFFFFFFF). `checksum` of "123456789" is 0xCBF43926.
public enum CRC32 {
    /// The reflected polynomial.
    @usableFromInline static let polynomial: UInt32 = 0xEDB8_8320

    /// tables[k * 256 + b]: the CRC contribution of byte b followed by k zero bytes.
    @usableFromInline static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var value = UInt32(index)
            for _ in 0..<8 { value = (value & 1) != 0 ? (polynomial ^ (value >> 1)) : (value >> 1) }
            tables[index] = value
        }
        for k in 1..<8 {
            for index in 0..<256 {
                let previous = tables[(k - 1) * 256 + index]
                tables[k * 256 + index] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// The checksum of `bytes` (on the calling thread).
    @inlinable @inline(__always)
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        update(0, bytes)
    }

    /// The checksum of `previous`'s bytes followed by `bytes` (`update(0, x)` == `checksum(x)`).
    /// Inputs of 4 KiB and more are cut into four equal lanes whose CRCs are computed in one
    /// loop (four independent dependency chains keep the CPU's load units busy) and joined with
    /// `combine`; the rest of the input goes through one lane.
    @inlinable @inline(__always)
    public static func update(_ previous: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return previous }
        let lane = (bytes.count / 32) * 8  // bytes per lane, a multiple of 8
        guard bytes.count >= 4096 else { return serial(previous, base, bytes.count) }
        var crcs: (UInt32, UInt32, UInt32, UInt32) = (~previous, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF)
        tables.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            @inline(__always) func step(_ crc: UInt32, _ p: UnsafeRawPointer) -> UInt32 {
                let low = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)) ^ crc
                let high = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                return t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
            }
            var offset = 0
            while offset < lane {
                crcs.0 = step(crcs.0, base + offset)
                crcs.1 = step(crcs.1, base + lane + offset)
                crcs.2 = step(crcs.2, base + 2 * lane + offset)
                crcs.3 = step(crcs.3, base + 3 * lane + offset)
                offset += 8
            }
        }
        var crc = combine(~crcs.0, ~crcs.1, length: lane)
        crc = combine(crc, ~crcs.2, length: lane)
        crc = combine(crc, ~crcs.3, length: lane)
        return serial(crc, base + 4 * lane, bytes.count - 4 * lane)
    }

    /// `update` over `count` bytes at `start`, one 8-byte step after the other.
    @inlinable @inline(__always)
    static func serial(_ previous: UInt32, _ start: UnsafeRawPointer, _ count: Int) -> UInt32 {
        var crc = ~previous
        var p = start
        var remaining = count
        tables.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            while remaining >= 8 {
                let low = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)) ^ crc
                let high = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                crc = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                p += 8
                remaining -= 8
            }
            while remaining > 0 {
                crc = t[Int((crc ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                p += 1
                remaining -= 1
            }
        }
        return ~crc
    }

    /// The CRC of A || B from crc(A), crc(B) and B's length in bytes.
    public static func combine(_ first: UInt32, _ second: UInt32, length: Int) -> UInt32 {
        guard length > 0 else { return first }
        return multiply(first, powerOfX(bytes: length)) ^ second
    }

    /// a * b mod P in the reflected bit order (bit 31 is x^0).
    static func multiply(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var product: UInt32 = 0
        var a = a
        var bit: UInt32 = 1 << 31
        while bit != 0 {
            if b & bit != 0 { product ^= a }
            a = (a & 1) != 0 ? (a >> 1) ^ polynomial : a >> 1  // a * x mod P
            bit >>= 1
        }
        return product
    }

    /// x^(8 * bytes) mod P (reflected), by square-and-multiply over the bits of `bytes`.
    static func powerOfX(bytes: Int) -> UInt32 {
        var result: UInt32 = 1 << 31          // x^0
        var square: UInt32 = 1 << 23          // x^8
        var n = bytes
        while n > 0 {
            if n & 1 != 0 { result = multiply(result, square) }
            square = multiply(square, square)
            n >>= 1
        }
        return result
    }
}
