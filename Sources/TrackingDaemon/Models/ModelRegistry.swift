// ModelRegistry: one immutable `SAM2Model` per configured name, loaded on first use and shared by
// every job that names it (one model, many trackers). Loading one name never blocks another.

import Foundation
import Checkpoint
import SAM2

/// Why a configured model could not be used.
public enum ModelError: Error, CustomStringConvertible, Sendable {
    case unknown(name: String, configured: [String])
    /// The checkpoint could not be read or does not fit the architecture.
    case checkpoint(name: String, CheckpointError)
    /// The JSON config is unreadable or inconsistent.
    case config(name: String, ConfigError)

    public var description: String {
        switch self {
        case let .unknown(name, configured): return "unknown model '\(name)'; configured: \(configured.joined(separator: ", "))"
        case let .checkpoint(name, error): return "model '\(name)': \(error.description)"
        case let .config(name, error): return "model '\(name)': \(error.description)"
        }
    }
}

/// Lazily loaded, shared models by name. Thread-safe.
public final class ModelRegistry: @unchecked Sendable {  // `loaded` guarded by `lock`; `entries` immutable
    private let entries: [String: DaemonConfig.Model]
    private let lock = NSLock()
    private var loaded: [String: SAM2Model] = [:]
    private let loadLocks: [String: NSLock]

    public init(models: [String: DaemonConfig.Model]) {
        entries = models
        loadLocks = models.mapValues { _ in NSLock() }
    }

    /// Configured names, sorted.
    public var names: [String] { entries.keys.sorted() }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// Names loaded so far.
    public var loadedNames: [String] { lock.withLock { loaded.keys.sorted() } }

    /// The model `name`, loading it on first use (other callers of the same name wait; a failed
    /// load is retried by the next caller).
    public func model(named name: String) throws(ModelError) -> SAM2Model {
        guard let entry = entries[name], let loadLock = loadLocks[name] else { throw .unknown(name: name, configured: names) }
        loadLock.lock()
        defer { loadLock.unlock() }
        if let existing = lock.withLock({ loaded[name] }) { return existing }
        let model: SAM2Model
        do {
            let config = try entry.config.map { try ConfigInference.load(configFile: $0) }
            model = try SAM2Model.load(checkpoint: entry.checkpoint, config: config)
        } catch let error as CheckpointError {
            throw .checkpoint(name: name, error)
        } catch let error as ConfigError {
            throw .config(name: name, error)
        } catch {
            throw .checkpoint(name: name, .cannotOpen(path: entry.checkpoint, reason: "\(error)"))
        }
        lock.withLock { loaded[name] = model }
        return model
    }
}
