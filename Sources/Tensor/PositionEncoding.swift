// PositionEncoding: the sine encodings of SAM 2 (2-D for image features, 1-D for temporal
// positions of object pointers) and axial rotary position embedding (RoPE) for memory attention.
// Values are computed in Float32 in the same order as the reference so results agree to rounding.

import Foundation

public enum PositionEncoding {
    /// 2-D sine encoding (`PositionEmbeddingSine`): [channels, height, width]. The first half of
    /// the channels encodes y, the second half x; within each half channel 2i is
    /// sin(p / T^(2i/half)) and 2i+1 the matching cos. With `normalize`, p = index+1 divided by
    /// (extent + 1e-6) and multiplied by `scale` (2 pi by default); otherwise p = index + 1.
    public static func sine2D(channels: Int, height: Int, width: Int, temperature: Float = 10000,
                              normalize: Bool = true, scale: Float = 2 * Float.pi) -> Tensor {
        precondition(channels % 4 == 0, "sine2D needs channels divisible by 4, got \(channels)")
        let half = channels / 2
        let dimT = (0..<half).map { i -> Float in
            powf(temperature, Float(2 * (i / 2)) / Float(half))
        }
        func positions(_ extent: Int) -> [Float] {
            (0..<extent).map { i in
                let p = Float(i + 1)
                return normalize ? p / (Float(extent) + 1e-6) * scale : p
            }
        }
        let ys = positions(height), xs = positions(width)
        var out = Tensor(uninitialized: [channels, height, width])
        out.withUnsafeMutablePointer { p in
            for c in 0..<channels {
                let isY = c < half
                let i = isY ? c : c - half
                let plane = p + c * height * width
                for y in 0..<height {
                    for x in 0..<width {
                        let v = (isY ? ys[y] : xs[x]) / dimT[i]
                        plane[y * width + x] = i % 2 == 0 ? sinf(v) : cosf(v)
                    }
                }
            }
        }
        return out
    }

    /// 1-D sine encoding (`get_1d_sine_pe`): positions [n] -> [n, dim] with the first dim/2 columns
    /// sin(pos / T^(2*(i/2)/(dim/2))) and the last dim/2 the matching cos.
    public static func sine1D(positions: [Float], dim: Int, temperature: Float = 10000) -> Tensor {
        precondition(dim % 2 == 0, "sine1D needs an even dim, got \(dim)")
        let half = dim / 2
        let dimT = (0..<half).map { i -> Float in powf(temperature, Float(2 * (i / 2)) / Float(half)) }
        var out = Tensor(uninitialized: [positions.count, dim])
        out.withUnsafeMutablePointer { p in
            for (row, pos) in positions.enumerated() {
                for i in 0..<half {
                    let v = pos / dimT[i]
                    p[row * dim + i] = sinf(v)
                    p[row * dim + half + i] = cosf(v)
                }
            }
        }
        return out
    }
}

/// Axial rotary position embedding tables (`compute_axial_cis`) for an endX x endY grid of tokens
/// (row-major, x fastest) and `dim` channels per head: the angle for token t and pair i is
/// x(t) * f_i for i < dim/4 and y(t) * f_(i - dim/4) after, with f_j = 1 / theta^(4j/dim).
public struct AxialRoPE: Sendable {
    /// cos of the angles, [tokens, dim/2].
    public let cosines: Tensor
    /// sin of the angles, [tokens, dim/2].
    public let sines: Tensor
    public let dim: Int
    public var tokens: Int { cosines.shape[0] }

    public init(dim: Int, endX: Int, endY: Int, theta: Float = 10000) {
        precondition(dim % 4 == 0, "axial RoPE needs dim divisible by 4, got \(dim)")
        self.dim = dim
        let quarter = dim / 4
        let freqs = (0..<quarter).map { j -> Float in 1 / powf(theta, Float(4 * j) / Float(dim)) }
        let tokens = endX * endY
        var cosT = Tensor(uninitialized: [tokens, dim / 2]), sinT = Tensor(uninitialized: [tokens, dim / 2])
        cosT.withUnsafeMutablePointer { pc in
            sinT.withUnsafeMutablePointer { ps in
                for t in 0..<tokens {
                    let x = Float(t % endX), y = Float(t / endX)
                    for j in 0..<quarter {
                        let ax = x * freqs[j], ay = y * freqs[j]
                        pc[t * dim / 2 + j] = cosf(ax); ps[t * dim / 2 + j] = sinf(ax)
                        pc[t * dim / 2 + quarter + j] = cosf(ay); ps[t * dim / 2 + quarter + j] = sinf(ay)
                    }
                }
            }
        }
        cosines = cosT
        sines = sinT
    }

    /// Rotates channel pairs (2i, 2i+1) of x [B, N, L, dim] in place for tokens `0..<rotatedTokens`
    /// (the rest, e.g. object-pointer tokens, stay as they are). Token l uses table row
    /// l % tokens, which is the reference's `repeat_freqs_k` when L is a multiple of `tokens`.
    public func apply(to x: inout Tensor, rotatedTokens: Int? = nil) {
        precondition(x.rank == 4 && x.shape[3] == dim, "RoPE: x \(x.shape) for dim \(dim)")
        let (outer, length) = (x.shape[0] * x.shape[1], x.shape[2])
        let rotated = rotatedTokens ?? length
        precondition(rotated <= length, "RoPE: \(rotated) rotated tokens of \(length)")
        precondition(rotated <= tokens || rotated % tokens == 0,
                     "RoPE: \(rotated) tokens is not a multiple of the table's \(tokens)")
        let half = dim / 2, tableTokens = tokens
        cosines.withUnsafePointer { pc in
            sines.withUnsafePointer { ps in
                x.withUnsafeMutablePointer { px in
                    Parallel.forEach(outer * rotated, grain: max(1, 4096 / max(dim, 1))) { range in
                        for item in range {
                            let o = item / rotated, l = item % rotated
                            let row = px + (o * length + l) * dim
                            let t = l % tableTokens
                            let c = pc + t * half, s = ps + t * half
                            for i in 0..<half {
                                let re = row[2 * i], im = row[2 * i + 1]
                                row[2 * i] = re * c[i] - im * s[i]
                                row[2 * i + 1] = re * s[i] + im * c[i]
                            }
                        }
                    }
                }
            }
        }
    }
}
