// ModelRegistry: one immutable `SAM2Model` per configured name, loaded on first use and shared by
// every job that names it (one model, many trackers). Loading one name never blocks another.

import Foundation
import SAM2

/// Lazily loaded, shared models by name. Thread-safe.
public final class ModelRegistry: @unchecked Sendable {
    private let entries: [String: DaemonConfig.Model]
    private let lock = NSLock()
    private var loaded: [String: SAM2Model] = [:]
    private var loadLocks: [String: NSLock] = [:]

    public init(models: [String: DaemonConfig.Model]) {
        entries = models
        for name in models.keys { loadLocks[name] = NSLock() }
    }

    /// Configured names, sorted.
    public var names: [String] { entries.keys.sorted() }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// Names loaded so far.
    public var loadedNames: [String] {
        lock.lock()
        defer { lock.unlock() }
        return loaded.keys.sorted()
    }

    /// The model `name`, loading it on first use (other callers of the same name wait; a failed
    /// load is retried by the next caller).
    public func model(named name: String) throws -> SAM2Model {
        guard let entry = entries[name], let loadLock = loadLocks[name] else {
            throw APIError.unprocessable("unknown_model", "unknown model '\(name)'; configured: \(names.joined(separator: ", "))")
        }
        loadLock.lock()
        defer { loadLock.unlock() }
        lock.lock()
        let existing = loaded[name]
        lock.unlock()
        if let existing { return existing }
        let config = try entry.config.map { try ConfigInference.load(configFile: $0) }
        let model = try SAM2Model.load(checkpoint: entry.checkpoint, config: config)
        lock.lock()
        loaded[name] = model
        lock.unlock()
        return model
    }
}
