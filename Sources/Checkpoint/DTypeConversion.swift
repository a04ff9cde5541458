// DTypeConversion: element types found in checkpoints, converted to Float32.

/// Element types that checkpoints store and this reader converts to Float32.
public enum StoredDType: String, Sendable {
    case float32, float16, bfloat16

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 2 }

    /// Converts `count` elements read at `source` (any alignment) into `destination`.
    func convert(from source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        switch self {
        case .float32:
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .float16:
            for i in 0..<count {
                let bits = source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                destination[i] = Float(floatFromHalfBits(bits))
            }
        case .bfloat16:
            for i in 0..<count {
                let bits = source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                destination[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        }
    }
}

/// IEEE 754 half-precision bits to Float (exact; handles subnormals, infinities and NaN).
@inline(__always)
func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // zero or subnormal: mantissa * 2^-24
        let value = Float(mantissa) * (1.0 / 16_777_216.0)
        return sign != 0 ? -value : value
    }
    if exponent == 31 {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
}
