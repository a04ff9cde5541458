// `samtrack bench kernels`: the Tensor kernels timed at SAM 2.1 tiny's real sizes.

import ArgumentParser
import Foundation
import Tensor

struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernels", abstract: "Time the Tensor kernels at SAM 2.1 tiny sizes.")

    @Option(name: .long, help: "Timed repetitions per kernel (best is reported).")
    var repeats = 3

    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try compute.apply()
        warnAboutSlowSettings()
        print(environmentSummary())
        var rng = SystemRandomNumberGenerator()
        func random(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
        }
        func report(_ name: String, seconds: Double, flops: Double? = nil) {
            let gflops = flops.map { String(format: "  %7.1f GFLOPS", $0 / seconds / 1e9) } ?? ""
            print(String(format: "%-52@ %9.2f ms%@", name as NSString, seconds * 1000, gflops as NSString))
        }
        // --precision bf16: attention and the linear layer run in a bf16 scope (the lines say so).
        let precision = compute.precision
        let tag = precision == .bfloat16 ? " [bf16]" : ""
        func scoped(_ body: () -> Void) { Precision.$current.withValue(precision, operation: body) }
        let n = 4096
        let a = random([n, n]), b = random([n, n])
        report("sgemm 4096x4096x4096", seconds: timeBest(repeats: repeats) { _ = a.matmul(b) }, flops: 2 * pow(Double(n), 3))
        // Memory attention of tiny at 1024 px: 4096 queries, 7 memories x 4096 + 64 pointer tokens.
        let q = random([1, 1, 4096, 256]), k = random([1, 1, 28672, 256]), v = random([1, 1, 28672, 256])
        report("attention 4096 q x 28672 k x 256" + tag, seconds: timeBest(repeats: repeats) {
            scoped { _ = scaledDotProductAttention(query: q, key: k, value: v) }
        }, flops: 4 * 4096 * 28672 * 256)
        // Hiera stage-1 windowed attention: 1024 windows of 64 tokens, 1 head of 96.
        let wq = random([1024, 1, 64, 96])
        report("windowed attention 1024 x (64 x 64 x 96)" + tag, seconds: timeBest(repeats: repeats) {
            scoped { _ = scaledDotProductAttention(query: wq, key: wq, value: wq) }
        }, flops: 4 * 1024 * 64 * 64 * 96)
        let tokens = random([1, 256, 256, 96])
        let w1 = random([384, 96]), b1 = random([384])
        let packed = PackedWeightCache()
        report("linear 65536 x 96 -> 384 (Hiera MLP)" + tag, seconds: timeBest(repeats: repeats) {
            scoped { _ = tokens.linear(weight: w1, bias: b1, packed: packed) }
        }, flops: 2 * 65536 * 96 * 384)
        let image = random([1, 3, 1024, 1024]), patch = random([96, 3, 7, 7]), pb = random([96])
        report("conv2d 3->96 7x7 s4 on 1024x1024 (patch embed)", seconds: timeBest(repeats: repeats) {
            _ = image.conv2d(weight: patch, bias: pb, options: Conv2dOptions(stride: 4, padding: 3))
        }, flops: 2 * 96 * 3 * 49 * 256 * 256)
        let feats = random([1, 256, 64, 64]), dw = random([256, 1, 7, 7]), db = random([256])
        report("depthwise conv2d 256ch 7x7 on 64x64 (fuser)", seconds: timeBest(repeats: repeats) {
            _ = feats.conv2d(weight: dw, bias: db, options: Conv2dOptions(stride: 1, padding: 3, groups: 256))
        }, flops: 2 * 256 * 49 * 64 * 64)
        let ln = random([96]), lb = random([96])
        report("layerNorm [65536, 96]", seconds: timeBest(repeats: repeats) { _ = tokens.layerNorm(weight: ln, bias: lb, eps: 1e-6) })
        let c256 = random([256])
        report("layerNorm2d [1, 256, 64, 64]", seconds: timeBest(repeats: repeats) { _ = feats.layerNorm2d(weight: c256, bias: c256, eps: 1e-6) })
        let scores = random([4096, 28672])
        report("softmax [4096, 28672]", seconds: timeBest(repeats: repeats) { _ = scores.softmax() })
        report("gelu [65536, 384]", seconds: timeBest(repeats: repeats) { _ = tokens.linear(weight: w1, bias: b1).applying(.gelu) })
        let low = random([1, 1, 256, 256])
        report("bilinear 256x256 -> 1024x1024", seconds: timeBest(repeats: repeats) {
            _ = low.interpolate(height: 1024, width: 1024, mode: .bilinear(antialias: false))
        })
    }
}
