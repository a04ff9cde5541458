// Backward+Normalization: reverse-mode derivatives of `nn.LayerNorm` (last axis) and SAM's
// `LayerNorm2d` (channel axis of [B, C, H, W]).
//
// With x^ = (x - mean) * rstd over the D normalised values and y = x^ w + b:
//   dw = sum dy x^, db = sum dy (over every normalised group),
//   dx = rstd (g - mean(g) - x^ mean(g x^)) with g = dy w.
// Means, variances and the two inner means are accumulated in Double.

import Foundation
import Tensor

extension Backward {
    /// `nn.LayerNorm` over the last axis D: x [..., D], weight [D], dy [..., D] -> dx, dWeight [D], dBias [D].
    public static func layerNorm(x: Tensor, weight: Tensor, eps: Float, dy: Tensor) -> (dx: Tensor, dWeight: Tensor, dBias: Tensor) {
        let d = x.shape.last!
        precondition(weight.shape == [d] && dy.shape == x.shape, "Backward.layerNorm: x \(x.shape), weight \(weight.shape), dy \(dy.shape)")
        let rows = x.count / d
        var dx = Tensor(uninitialized: x.shape)
        var dwSum = [Double](repeating: 0, count: d), dbSum = [Double](repeating: 0, count: d)
        var normalized = [Double](repeating: 0, count: d), g = [Double](repeating: 0, count: d)
        x.withUnsafePointer { px in
            dy.withUnsafePointer { pg in
                weight.withUnsafePointer { pw in
                    dx.withUnsafeMutablePointer { pd in
                        for r in 0..<rows {
                            let xr = px + r * d, gr = pg + r * d, dr = pd + r * d
                            var mean = 0.0
                            for j in 0..<d { mean += Double(xr[j]) }
                            mean /= Double(d)
                            var variance = 0.0
                            for j in 0..<d { let c = Double(xr[j]) - mean; variance += c * c }
                            variance /= Double(d)
                            let rstd = 1 / (variance + Double(eps)).squareRoot()
                            var meanG = 0.0, meanGX = 0.0
                            for j in 0..<d {
                                normalized[j] = (Double(xr[j]) - mean) * rstd
                                g[j] = Double(gr[j]) * Double(pw[j])
                                meanG += g[j]
                                meanGX += g[j] * normalized[j]
                                dwSum[j] += Double(gr[j]) * normalized[j]
                                dbSum[j] += Double(gr[j])
                            }
                            meanG /= Double(d)
                            meanGX /= Double(d)
                            for j in 0..<d { dr[j] = Float(rstd * (g[j] - meanG - normalized[j] * meanGX)) }
                        }
                    }
                }
            }
        }
        return (dx, Tensor(shape: [d], values: dwSum.map(Float.init)), Tensor(shape: [d], values: dbSum.map(Float.init)))
    }

    /// SAM's `LayerNorm2d`: x [B, C, H, W] normalised over C per pixel, weight [C], dy like x ->
    /// dx, dWeight [C], dBias [C].
    public static func layerNorm2d(x: Tensor, weight: Tensor, eps: Float, dy: Tensor) -> (dx: Tensor, dWeight: Tensor, dBias: Tensor) {
        precondition(x.rank == 4 && dy.shape == x.shape && weight.shape == [x.shape[1]],
                     "Backward.layerNorm2d: x \(x.shape), weight \(weight.shape), dy \(dy.shape)")
        let (batch, channels, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var dx = Tensor(uninitialized: x.shape)
        var dwSum = [Double](repeating: 0, count: channels), dbSum = [Double](repeating: 0, count: channels)
        x.withUnsafePointer { px in
            dy.withUnsafePointer { pg in
                weight.withUnsafePointer { pw in
                    dx.withUnsafeMutablePointer { pd in
                        // One pass per image over pixel-wide rows: statistics per pixel, then the rows again.
                        var mean = [Double](repeating: 0, count: plane), rstd = [Double](repeating: 0, count: plane)
                        var meanG = [Double](repeating: 0, count: plane), meanGX = [Double](repeating: 0, count: plane)
                        for b in 0..<batch {
                            let base = b * channels * plane
                            for p in 0..<plane { mean[p] = 0; rstd[p] = 0; meanG[p] = 0; meanGX[p] = 0 }
                            for c in 0..<channels {
                                let row = px + base + c * plane
                                for p in 0..<plane { mean[p] += Double(row[p]) }
                            }
                            for p in 0..<plane { mean[p] /= Double(channels) }
                            for c in 0..<channels {
                                let row = px + base + c * plane
                                for p in 0..<plane { let v = Double(row[p]) - mean[p]; rstd[p] += v * v }
                            }
                            for p in 0..<plane { rstd[p] = 1 / (rstd[p] / Double(channels) + Double(eps)).squareRoot() }
                            for c in 0..<channels {
                                let row = px + base + c * plane, grow = pg + base + c * plane
                                let w = Double(pw[c])
                                var dwc = 0.0, dbc = 0.0
                                for p in 0..<plane {
                                    let n = (Double(row[p]) - mean[p]) * rstd[p]
                                    let gv = Double(grow[p])
                                    meanG[p] += gv * w
                                    meanGX[p] += gv * w * n
                                    dwc += gv * n
                                    dbc += gv
                                }
                                dwSum[c] += dwc
                                dbSum[c] += dbc
                            }
                            for p in 0..<plane { meanG[p] /= Double(channels); meanGX[p] /= Double(channels) }
                            for c in 0..<channels {
                                let row = px + base + c * plane, grow = pg + base + c * plane, drow = pd + base + c * plane
                                let w = Double(pw[c])
                                for p in 0..<plane {
                                    let n = (Double(row[p]) - mean[p]) * rstd[p]
                                    drow[p] = Float(rstd[p] * (Double(grow[p]) * w - meanG[p] - n * meanGX[p]))
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dx, Tensor(shape: [channels], values: dwSum.map(Float.init)), Tensor(shape: [channels], values: dbSum.map(Float.init)))
    }
}
