// samtrack: the command-line front end. It only parses options and wires the library modules
// together (DESIGN §5); every behaviour lives below it.

import ArgumentParser
import Foundation
import SAM2
import Tensor

@main
struct Samtrack: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samtrack",
        abstract: "Track and segment objects in video with SAM 2 / SAM 2.1, natively.",
        version: "0.1.0",
        subcommands: [TrackCommand.self, RenderCommand.self, SegmentCommand.self, InfoCommand.self, BenchCommand.self]
    )

    /// Tunes the allocator (freed tensors are reused, not returned to the kernel: `HeapTuning`),
    /// then parses and runs the command; a `CommandFailure` prints "Error: <reason>" and exits
    /// with its code (`CLIExit`, the table in samtrack(1)).
    static func main() {
        HeapTuning.apply()
        do {
            var command = try parseAsRoot(nil)
            try command.run()
        } catch let failure as CommandFailure {
            FileHandle.standardError.write(Data("Error: \(failure.description)\n".utf8))
            Foundation.exit(failure.exit.rawValue)
        } catch {
            exit(withError: error)
        }
    }
}

/// Options shared by the commands that run the model.
struct ComputeOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: "Worker threads for the model and OpenBLAS (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Arithmetic of the matrix products of the image encoder, memory attention and the memory encoder: fp32 (exact parity) or bf16 (bfloat16 operands, fp32 sums; needs AVX-512 BF16).")
    var precision: Precision = .float32

    func validate() throws {
        if let threads, threads <= 0 || threads > ComputeContext.maxThreads {
            throw ValidationError("--threads must be in 1...\(ComputeContext.maxThreads) (4 x the cores of this machine)")
        }
        if precision == .bfloat16 && !Precision.bfloat16Supported {
            throw ValidationError("--precision bf16 needs a CPU with AVX-512 BF16 (avx512_bf16); this one has none: use fp32")
        }
    }

    /// Makes `--threads` the process's default compute context.
    func apply() throws {
        if let threads { ComputeContext.setProcessDefault(threads: threads) }
    }
}

extension Precision: ExpressibleByArgument {}

/// The model to run: a checkpoint and an optional config override.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Checkpoint file (.pt or .safetensors). Default: the bundled model trained on synthetic clips (Fixtures/models/synth.pt, or $SAMTRACK_MODEL).")
    var model: String?

    @Option(name: .long, help: "JSON model config overriding the inferred one.")
    var config: String?

    /// The checkpoint file: --model, else the default model.
    func checkpointPath() throws -> String {
        try model ?? DefaultModel.resolve()
    }

    /// Loads the model (config: --config, else <checkpoint>.json beside it, else the official preset).
    func load() throws -> SAM2Model {
        try SAM2Model.load(checkpoint: checkpointPath(),
                           config: config.map { try ConfigInference.load(configFile: $0) })
    }
}

