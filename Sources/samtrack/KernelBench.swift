// `samtrack bench kernels`: the Tensor kernels timed at SAM 2.1 tiny's real sizes.

import ArgumentParser
import Foundation
import Tensor

struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernels", abstract: "Time the Tensor kernels at SAM 2.1 tiny sizes.")

    @Option(name: .long, help: "Timed repetitions per kernel (best is reported).")
    var repeats = 3

    @Flag(name: .long, help: "Time only the default model's Linear layers (OpenBLAS, then the packed fp32 kernel) and attentions (OpenBLAS tiles, then the short-key kernel).")
    var smallLinear = false

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
        if smallLinear {
            smallLinears(random: random, report: report)
            return
        }
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
        report("depthwise conv2d 256ch 7x7 on 64x64 (channels-first)", seconds: timeBest(repeats: repeats) {
            _ = feats.conv2d(weight: dw, bias: db, options: Conv2dOptions(stride: 1, padding: 3, groups: 256))
        }, flops: 2 * 256 * 49 * 64 * 64)
        let featTokens = random([1, 64, 64, 256])
        report("depthwise conv 256ch 7x7 on 64x64 channels-last (fuser)", seconds: timeBest(repeats: repeats) {
            _ = featTokens.depthwiseConv2dChannelsLast(weight: dw, bias: db, padding: 3)
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

    /// The default model's Linear shapes (256 px; `synth_wide`), each on OpenBLAS (`linear` without
    /// a packing cache) and on the packed kernel (with one, packed before timing), per call.
    private func smallLinears(random: ([Int]) -> Tensor, report: (String, Double, Double?) -> Void) {
        print("packed kernel: " + (PackedF32Kernel.enabled ? "used by the model's layers"
            : PackedF32Kernel.supported ? "not used by the model's layers here (timed anyway)" : "not timed (no AVX2 and FMA)"))
        let shapes: [(String, Int, Int, Int)] = [
            ("Hiera stage 1 qkv", 4096, 48, 144), ("Hiera stage 1 MLP up", 4096, 48, 192),
            ("Hiera stage 1 MLP down", 4096, 192, 48), ("Hiera stage 2 MLP up", 1024, 96, 384),
            ("Hiera stage 2 MLP down", 1024, 384, 96), ("Hiera stage 3 qkv", 256, 192, 576),
            ("Hiera stage 4 qkv", 64, 384, 1152), ("Hiera stage 4 MLP up", 64, 384, 1536),
            ("Hiera stage 4 MLP down", 64, 1536, 384),
            ("memory attention q / out", 256, 128, 128), ("memory attention k / v (7 memories)", 1824, 64, 128),
            ("memory attention FFN up", 256, 128, 512), ("memory attention FFN down", 256, 512, 128),
            ("tiny 1024 px Hiera stage 1 MLP up", 65536, 96, 384),
        ]
        // The default model's attentions at 256 px (pairs = windows x heads, D 48): the flash
        // path with OpenBLAS's tiles, then CAVX2's short-key kernel (the one the model runs here
        // when the packed kernel is used).
        let attentions: [(String, Int, Int, Int, Int)] = [
            ("Hiera stage 1 windows", 64, 64, 64, 48), ("Hiera stage 2 pooling block", 128, 16, 64, 48),
            ("Hiera stage 2 windows", 128, 16, 16, 48), ("Hiera stage 3 pooling block", 256, 4, 16, 48),
            ("Hiera stage 3 windows", 16, 64, 64, 48), ("Hiera stage 3 global", 4, 256, 256, 48),
            ("Hiera stage 4 pooling block", 32, 16, 64, 48),
        ]
        for (name, pairs, lq, lk, d) in attentions {
            let q = random([pairs, 1, lq, d]), k = random([pairs, 1, lk, d]), v = random([pairs, 1, lk, d])
            let flops = 4.0 * Double(pairs * lq * lk * d)
            let calls = max(1, Int(1e8 / flops))
            let label = "\(name) \(pairs) x (\(lq) x \(lk) x \(d))"
            for (kernel, tag) in [(AttentionTiling.Kernel.openBLAS, "OpenBLAS"), (.short, "short")] {
                if kernel == .short && !PackedF32Kernel.supported { continue }
                let tiling = AttentionTiling(queryRows: 512, keys: 256, kernel: kernel)
                report("\(label) \(tag)", timeBest(repeats: repeats) {
                    for _ in 0..<calls { _ = scaledDotProductAttention(query: q, key: k, value: v, tiling: tiling) }
                } / Double(calls), flops)
            }
        }
        // Exact GELU alone on 64 Ki values (in L2), as the MLPs apply it to each block of rows.
        var hidden = random([65536])
        let geluCalls = 200
        let geluSeconds = timeBest(repeats: repeats) { for _ in 0..<geluCalls { hidden.apply(.gelu) } } / Double(geluCalls)
        print(String(format: "%-52@ %9.2f ms  %5.2f ns a value (%@)", "gelu 65536 values (in place)" as NSString,
                     geluSeconds * 1000, geluSeconds * 1e9 / 65536, RowLoopTwins.current.map { "\($0) twin" } ?? "Swift loop"))
        for (name, rows, inFeatures, outFeatures) in shapes {
            let x = random([rows, inFeatures]), w = random([outFeatures, inFeatures]), b = random([outFeatures])
            let flops = 2.0 * Double(rows * inFeatures * outFeatures)
            let calls = max(1, Int(2e8 / flops))  // ~0.2 GFLOP a timing
            let cache = PackedWeightCache()
            _ = cache.packedF32(for: w)
            let label = "\(name) \(rows) x \(inFeatures) -> \(outFeatures)"
            report("\(label) OpenBLAS", timeBest(repeats: repeats) {
                for _ in 0..<calls { _ = x.linear(weight: w, bias: b) }
            } / Double(calls), flops)
            guard PackedF32Kernel.supported else { continue }
            report("\(label) packed", timeBest(repeats: repeats) {
                for _ in 0..<calls { _ = x.linearOnPackedKernel(weight: w, bias: b, packed: cache) }
            } / Double(calls), flops)
        }
    }
}
