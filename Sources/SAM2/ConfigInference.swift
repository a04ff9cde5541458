// ConfigInference: decides which SAM 2 config a checkpoint was trained with, from its tensor names
// and shapes (Hiera width and blocks per stage, SAM 2.1-only tensors), or from a JSON config file
// beside it. Window sizes, head counts and global-attention blocks are not visible in the weights,
// so an unknown trunk shape requires an explicit config.

import Foundation
import Checkpoint

/// Errors when no config fits a checkpoint.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case unrecognizedArchitecture(path: String, embedDim: Int, stages: [Int])
    case notASAM2Checkpoint(path: String, reason: String)
    case unreadableConfig(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unrecognizedArchitecture(path, embedDim, stages):
            return "\(path): Hiera trunk with width \(embedDim) and stages \(stages) matches no official SAM 2 model; pass a JSON config (--config FILE, or put <checkpoint>.json beside it)"
        case let .notASAM2Checkpoint(path, reason):
            return "\(path): not a SAM 2 checkpoint: \(reason)"
        case let .unreadableConfig(path, reason):
            return "\(path): cannot read config: \(reason)"
        }
    }
}

/// Infers `SAM2Config` from checkpoints.
public enum ConfigInference {
    /// Trunk width and blocks per stage read from the tensor shapes.
    public static func trunkShape(of store: WeightStore) throws -> (embedDim: Int, stages: [Int]) {
        guard let patch = store.shape(of: "image_encoder.trunk.patch_embed.proj.weight"), patch.count == 4 else {
            throw ConfigError.notASAM2Checkpoint(path: store.path, reason: "no tensor 'image_encoder.trunk.patch_embed.proj.weight'")
        }
        var blocks = 0
        while store.contains("image_encoder.trunk.blocks.\(blocks).norm1.weight") { blocks += 1 }
        guard blocks > 0 else {
            throw ConfigError.notASAM2Checkpoint(path: store.path, reason: "no Hiera blocks 'image_encoder.trunk.blocks.N'")
        }
        // A block with a `proj` changes the width: it starts a new stage.
        var stages: [Int] = []
        var current = 0
        for i in 0..<blocks {
            if i > 0 && store.contains("image_encoder.trunk.blocks.\(i).proj.weight") {
                stages.append(current)
                current = 0
            }
            current += 1
        }
        stages.append(current)
        return (patch[0], stages)
    }

    /// The config for `store`: `<checkpoint>.json` beside the file if present, else the matching
    /// official preset (SAM 2.1 when `no_obj_embed_spatial` is present, else SAM 2.0).
    public static func config(for store: WeightStore, checkpointPath: String) throws -> SAM2Config {
        let sidecar = URL(fileURLWithPath: checkpointPath).deletingPathExtension().appendingPathExtension("json").path
        if FileManager.default.fileExists(atPath: sidecar) {
            return try load(configFile: sidecar)
        }
        let (embedDim, stages) = try trunkShape(of: store)
        let version21 = store.contains("no_obj_embed_spatial")
        for variant in SAM2Config.Variant.allCases {
            let preset = SAM2Config.preset(variant, version21: version21)
            if preset.hiera.embedDim == embedDim && preset.hiera.stages == stages { return preset }
        }
        throw ConfigError.unrecognizedArchitecture(path: checkpointPath, embedDim: embedDim, stages: stages)
    }

    /// Reads a JSON config file.
    public static func load(configFile path: String) throws -> SAM2Config {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigError.unreadableConfig(path: path, reason: error.localizedDescription)
        }
        do { return try SAM2Config.load(json: data) } catch let DecodingError.keyNotFound(key, _) {
            throw ConfigError.unreadableConfig(path: path, reason: "missing key '\(key.stringValue)'")
        } catch {
            throw ConfigError.unreadableConfig(path: path, reason: "not a valid SAM2 config JSON (\(error))")
        }
    }
}
