// `samtrack info CKPT`: the inferred config, SAM 2.0 or 2.1, image size and parameter counts.

import ArgumentParser
import Foundation
import SAM2

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Show a checkpoint's model variant, config and parameter counts.")

    @Argument(help: "Checkpoint file (.pt or .safetensors). Default: the bundled model (see --model in samtrack track).")
    var checkpoint: String?

    @Option(name: .long, help: "JSON model config overriding the inferred one.")
    var config: String?

    @Flag(name: .long, help: "Print the full config as JSON.")
    var json = false

    func run() throws {
        let path = try reportingErrors { try checkpoint ?? DefaultModel.resolve() }
        let model = try reportingErrors {
            try SAM2Model.load(checkpoint: path, config: config.map { try ConfigInference.load(configFile: $0) })
        }
        let c = model.config
        if json {
            print(String(decoding: try c.jsonData(), as: UTF8.self))
            return
        }
        print("checkpoint   \(path)")
        print("model        \(c.name) (SAM \(c.isSAM21 ? "2.1" : "2.0"))")
        print("image size   \(c.imageSize) px, features \(c.embeddingSize)x\(c.embeddingSize), width \(c.neck.dModel), memory width \(c.memoryEncoder.outDim)")
        print("hiera        width \(c.hiera.embedDim), heads \(c.hiera.numHeads), stages \(c.hiera.stages), windows \(c.hiera.windowSpec), global blocks \(c.hiera.globalAttBlocks)")
        print("memory       \(c.numMaskmem) memories, \(c.memoryAttention.numLayers) attention layers, \(c.maxObjPtrsInEncoder) object pointers")
        print("parameters   \(formatCount(model.parameterCount))")
        for (module, count) in model.parameterCounts {
            print("  \(module.padding(toLength: 22, withPad: " ", startingAt: 0)) \(formatCount(count))")
        }
    }

    func formatCount(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.2fM", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1fk", Double(n) / 1e3) : "\(n)"
    }
}
