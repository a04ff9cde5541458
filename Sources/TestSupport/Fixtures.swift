// Fixtures: locating committed test data and reading reference tensors written by Tools/reference.

import Foundation
import Tensor
import Checkpoint

/// Access to the committed `Fixtures/` folder and the shared media in `../shared/fixtures/`.
public enum Fixtures {
    /// The repository root, found from this source file's location.
    public static let repositoryRoot: URL = {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // TestSupport
            .deletingLastPathComponent()  // Sources
            .deletingLastPathComponent()  // root
    }()

    /// Path of a file under `Fixtures/`.
    public static func path(_ relative: String) -> String {
        repositoryRoot.appendingPathComponent("Fixtures").appendingPathComponent(relative).path
    }

    /// Path of a file under `../shared/fixtures/` (real videos and photos).
    public static func sharedMedia(_ name: String) -> String {
        repositoryRoot.deletingLastPathComponent()
            .appendingPathComponent("shared/fixtures").appendingPathComponent(name).path
    }

    /// A reference bundle: tensors plus string metadata from one `.safetensors` fixture file.
    public struct Reference {
        public let store: WeightStore
        public let metadata: [String: String]

        public init(store: WeightStore, metadata: [String: String]) {
            self.store = store
            self.metadata = metadata
        }

        /// Loads any safetensors file (not only under `Fixtures/`).
        public init(path: String) throws {
            (store, metadata) = try SafeTensorsReader.load(file: try MappedFile(path: path))
        }

        /// The tensor `key` (fails the caller's test through a thrown error when absent).
        public func tensor(_ key: String) throws -> Tensor { try store.take(key) }

        /// Integer metadata value.
        public func int(_ key: String) -> Int? { metadata[key].flatMap { Int($0) } }
        /// Float metadata value.
        public func float(_ key: String) -> Float? { metadata[key].flatMap { Float($0) } }
        /// Integer list metadata value written as comma-separated numbers.
        public func ints(_ key: String) -> [Int]? {
            metadata[key].map { $0.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        }
    }

    /// Loads `Fixtures/<relative>` (a safetensors file written by Tools/reference).
    public static func reference(_ relative: String) throws -> Reference {
        let file = try MappedFile(path: path(relative))
        let (store, metadata) = try SafeTensorsReader.load(file: file)
        return Reference(store: store, metadata: metadata)
    }
}
