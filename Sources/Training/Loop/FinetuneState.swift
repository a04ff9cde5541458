// FinetuneState: a run's resumable state (trainable parameters, AdamW moments and step counts,
// the random generator, steps done, options, evaluations), saved as one safetensors file:
// tensors `param.<key>`, `adam.m.<key>`, `adam.v.<key>`; everything else as JSON in the metadata.

import Checkpoint
import Foundation
import Tensor

public struct FinetuneState: Sendable {
    public var parameters: Parameters
    public var optimizer: AdamW
    public var rng: TrainingRNG
    public var step: Int
    public var options: FinetuneOptions
    public var evaluations: [EvalReport]

    struct Metadata: Codable {
        var step: Int
        var rng: [String]
        var adamSteps: [String: Int]
        var keys: [String]
        var options: FinetuneOptions
        var evaluations: [Evaluation]
        var model: String
        var data: String
    }

    struct Evaluation: Codable {
        var step: Int, meanIoU: Double, promptedIoU: Double?, trackedIoU: Double?, samples: Int
    }

    /// Writes the state to `path` (atomically; the writer's checksum covers the whole file).
    public func write(to path: String, model: String, data: String) throws {
        var writer = SafeTensorsWriter()
        for key in parameters.keys {
            writer.add("param.\(key)", parameters[key])
            if let m = optimizer.firstMoments[key], let v = optimizer.secondMoments[key] {
                writer.add("adam.m.\(key)", m)
                writer.add("adam.v.\(key)", v)
            }
        }
        let metadata = Metadata(step: step, rng: rng.stateWords.map { String($0) }, adamSteps: optimizer.steps,
                                keys: parameters.keys, options: options,
                                evaluations: evaluations.map { Evaluation(step: $0.step, meanIoU: $0.meanIoU, promptedIoU: $0.promptedIoU,
                                                                          trackedIoU: $0.trackedIoU, samples: $0.samples) },
                                model: model, data: data)
        writer.metadata["samtrack.finetune"] = String(decoding: try JSONEncoder().encode(metadata), as: UTF8.self)
        try writer.write(to: path)
    }

    /// Reads a state written by `write`; also returns the model and data it was saved with.
    public static func read(_ path: String) throws -> (state: FinetuneState, model: String, data: String) {
        let contents = try SafeTensorsReader.read(file: try MappedFile(path: path))
        guard let json = contents.metadata["samtrack.finetune"],
              let metadata = try? JSONDecoder().decode(Metadata.self, from: Data(json.utf8)) else {
            throw FinetuneError.badState(path: path, reason: "it is not a samtrack fine-tuning state (no samtrack.finetune metadata)")
        }
        let store = contents.store
        var values: [String: Tensor] = [:], m: [String: Tensor] = [:], v: [String: Tensor] = [:]
        for key in metadata.keys {
            values[key] = try store.take("param.\(key)").materialized()
            if store.contains("adam.m.\(key)") {
                m[key] = try store.take("adam.m.\(key)").materialized()
                v[key] = try store.take("adam.v.\(key)").materialized()
            }
        }
        let words = metadata.rng.compactMap { UInt64($0) }
        guard words.count == 4 else { throw FinetuneError.badState(path: path, reason: "the generator state is damaged") }
        let state = FinetuneState(parameters: Parameters(keys: metadata.keys, values: values),
                                  optimizer: AdamW(firstMoments: m, secondMoments: v, steps: metadata.adamSteps),
                                  rng: TrainingRNG(state: words), step: metadata.step, options: metadata.options,
                                  evaluations: metadata.evaluations.map {
                                      EvalReport(step: $0.step, meanIoU: $0.meanIoU, promptedIoU: $0.promptedIoU,
                                                 trackedIoU: $0.trackedIoU, samples: $0.samples)
                                  })
        return (state, metadata.model, metadata.data)
    }
}

/// Why a fine-tuning run cannot start or continue.
public enum FinetuneError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A resume state that cannot be used.
    case badState(path: String, reason: String)
    /// `--resume` with nothing to resume.
    case noState(path: String)
    /// A resumed run whose options, model or data differ from the saved ones.
    case resumeMismatch(path: String, reason: String)
    /// Nothing to train on after the split.
    case noTrainingSamples(reason: String)
    /// Options that cannot work together.
    case invalidOptions(String)

    public var description: String {
        switch self {
        case let .badState(path, reason): return "\(path): cannot resume from it: \(reason)"
        case let .noState(path): return "\(path): no saved run to resume (run without --resume to start one)"
        case let .resumeMismatch(path, reason): return "\(path): the saved run differs: \(reason); resume with the same options or start a new run"
        case let .noTrainingSamples(reason): return "no training samples: \(reason)"
        case let .invalidOptions(message): return message
        }
    }
}
