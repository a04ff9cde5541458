// DaemonConfig: the daemon's JSON config file — models by name, where sources may come from, where
// outputs go, limits, checkpointing and the bearer token. Relative paths in the file are relative
// to the file's own directory. Unknown keys are errors (a typo must not silently loosen a limit).
//
// {
//   "models": {"tiny": "/models/sam2.1_hiera_tiny.pt",
//              "micro": {"checkpoint": "micro.pt", "config": "micro.json"}},
//   "sources": {"roots": ["/srv/videos"], "patterns": ["/dev/video*", "udp://127.0.0.1:*"]},
//   "output_root": "/var/lib/samtrackd/outputs",
//   "limits": {"max_running_jobs": 1, "max_queued_jobs": 100, "max_objects_per_job": 32,
//              "max_body_bytes": 8388608},
//   "checkpoint_every": 50,
//   "threads_per_job": 2,
//   "token": "s3cret"            (or "token_file": "/etc/samtrackd/token")
// }

import Foundation

/// Errors reading or checking the config file (the daemon refuses to start).
public struct ConfigFileError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Everything the daemon is configured with.
public struct DaemonConfig: Sendable {
    /// A registered model: checkpoint plus optional explicit config (JSON).
    public struct Model: Sendable, Equatable {
        public var checkpoint: String
        public var config: String?
        public init(checkpoint: String, config: String? = nil) {
            self.checkpoint = checkpoint
            self.config = config
        }
    }

    /// Limits on what clients may ask for.
    public struct Limits: Sendable, Equatable {
        /// Jobs tracking at once (worker threads).
        public var maxRunningJobs: Int
        /// Jobs waiting for a worker; more submissions get 429.
        public var maxQueuedJobs: Int
        /// Distinct object ids per job (initial prompts plus those added while running).
        public var maxObjectsPerJob: Int
        /// Largest request body accepted (413 beyond).
        public var maxBodyBytes: Int

        public init(maxRunningJobs: Int = Limits.defaultRunningJobs, maxQueuedJobs: Int = 100,
                    maxObjectsPerJob: Int = 32, maxBodyBytes: Int = 8 << 20) {
            self.maxRunningJobs = maxRunningJobs
            self.maxQueuedJobs = maxQueuedJobs
            self.maxObjectsPerJob = maxObjectsPerJob
            self.maxBodyBytes = maxBodyBytes
        }

        /// max(1, cores / 2): each job then gets at least two threads for its kernels.
        public static var defaultRunningJobs: Int { max(1, ProcessInfo.processInfo.activeProcessorCount / 2) }
    }

    public var models: [String: Model]
    /// Directories (symlinks resolved) that file sources must lie under.
    public var sourceRoots: [String]
    /// fnmatch(3) patterns (with FNM_PATHNAME) for devices and stream URLs.
    public var sourcePatterns: [String]
    /// Directory every job's output path is relative to (symlinks resolved).
    public var outputRoot: String
    public var limits: Limits
    /// Save each file job's tracker state every this many frames.
    public var checkpointEvery: Int
    /// Kernel threads per job (Tensor's pool and OpenBLAS); nil = cores / max_running_jobs.
    public var threadsPerJob: Int?
    /// Bearer token every request except /healthz must carry; nil = no authentication.
    public var token: String?

    public init(models: [String: Model], sourceRoots: [String] = [], sourcePatterns: [String] = [],
                outputRoot: String, limits: Limits = Limits(), checkpointEvery: Int = 50,
                threadsPerJob: Int? = nil, token: String? = nil) {
        self.models = models
        self.sourceRoots = sourceRoots
        self.sourcePatterns = sourcePatterns
        self.outputRoot = outputRoot
        self.limits = limits
        self.checkpointEvery = checkpointEvery
        self.threadsPerJob = threadsPerJob
        self.token = token
    }

    /// Threads each running job's kernels use, so that running jobs x threads <= cores.
    public var effectiveThreadsPerJob: Int {
        threadsPerJob ?? max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, limits.maxRunningJobs))
    }

    /// Reads and checks `path`; `dataDirectory` provides the default output root (DATA/outputs).
    public static func load(path: String, dataDirectory: String) throws -> DaemonConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigFileError("cannot read the config file '\(path)' (does it exist and is it readable?)")
        }
        let file: ConfigFile
        do {
            file = try JSONDecoder().decode(ConfigFile.self, from: data)
        } catch let error as DecodingError {
            throw ConfigFileError("\(path): \(describe(error))")
        } catch {
            throw ConfigFileError("\(path): \(error)")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try file.resolved(base: base, dataDirectory: dataDirectory, configPath: path)
    }

    /// Checks the values (used by `load` and by callers building a config in code); creates the
    /// output root when missing and resolves it and the source roots to real paths.
    public func validated() throws -> DaemonConfig {
        var config = self
        guard !models.isEmpty else { throw ConfigFileError("no models: add \"models\": {\"name\": \"/path/to/checkpoint.pt\"}") }
        for (name, model) in models {
            guard name.range(of: "^[A-Za-z0-9._-]{1,64}$", options: .regularExpression) != nil else {
                throw ConfigFileError("model name '\(name)': use 1-64 letters, digits, '.', '_' or '-'")
            }
            guard FileManager.default.isReadableFile(atPath: model.checkpoint) else {
                throw ConfigFileError("model '\(name)': checkpoint '\(model.checkpoint)' is not a readable file")
            }
            if let json = model.config, !FileManager.default.isReadableFile(atPath: json) {
                throw ConfigFileError("model '\(name)': config '\(json)' is not a readable file")
            }
        }
        config.sourceRoots = try sourceRoots.map { root in
            guard let real = PathPolicy.realPath(root), PathPolicy.isDirectory(real) else {
                throw ConfigFileError("source root '\(root)' is not an existing directory")
            }
            return real
        }
        for pattern in sourcePatterns where pattern.isEmpty || pattern == "*" {
            throw ConfigFileError("source pattern '\(pattern)' would allow anything; name devices or URLs, e.g. /dev/video* or udp://127.0.0.1:*")
        }
        do {
            try FileManager.default.createDirectory(atPath: outputRoot, withIntermediateDirectories: true)
        } catch {
            throw ConfigFileError("cannot create the output root '\(outputRoot)': \(error.localizedDescription)")
        }
        guard let realOutput = PathPolicy.realPath(outputRoot) else {
            throw ConfigFileError("the output root '\(outputRoot)' cannot be resolved")
        }
        config.outputRoot = realOutput
        let l = limits
        for (name, value) in [("max_running_jobs", l.maxRunningJobs), ("max_queued_jobs", l.maxQueuedJobs),
                              ("max_objects_per_job", l.maxObjectsPerJob), ("max_body_bytes", l.maxBodyBytes),
                              ("checkpoint_every", checkpointEvery)] where value < 1 {
            throw ConfigFileError("\(name) must be at least 1 (is \(value))")
        }
        if let threadsPerJob, threadsPerJob < 1 { throw ConfigFileError("threads_per_job must be at least 1") }
        if let token, token.count < 8 || token.contains(where: { $0.isWhitespace }) {
            throw ConfigFileError("the token must be at least 8 characters without spaces")
        }
        return config
    }
}

/// The file's JSON shape.
struct ConfigFile: Decodable {
    struct ModelEntry: Decodable {
        var checkpoint: String
        var config: String?

        init(from decoder: Decoder) throws {
            if let path = try? decoder.singleValueContainer().decode(String.self) {
                checkpoint = path
                return
            }
            try decoder.rejectUnknownKeys(["checkpoint", "config"])
            let container = try decoder.container(keyedBy: CodingKeys.self)
            checkpoint = try container.decode(String.self, forKey: .checkpoint)
            config = try container.decodeIfPresent(String.self, forKey: .config)
        }
        enum CodingKeys: String, CodingKey { case checkpoint, config }
    }
    struct Sources: Decodable {
        var roots: [String]?
        var patterns: [String]?
        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(["roots", "patterns"])
            let container = try decoder.container(keyedBy: CodingKeys.self)
            roots = try container.decodeIfPresent([String].self, forKey: .roots)
            patterns = try container.decodeIfPresent([String].self, forKey: .patterns)
        }
        enum CodingKeys: String, CodingKey { case roots, patterns }
    }
    struct LimitsEntry: Decodable {
        var maxRunningJobs: Int?
        var maxQueuedJobs: Int?
        var maxObjectsPerJob: Int?
        var maxBodyBytes: Int?
        enum CodingKeys: String, CodingKey {
            case maxRunningJobs = "max_running_jobs", maxQueuedJobs = "max_queued_jobs"
            case maxObjectsPerJob = "max_objects_per_job", maxBodyBytes = "max_body_bytes"
        }
        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            maxRunningJobs = try c.decodeIfPresent(Int.self, forKey: .maxRunningJobs)
            maxQueuedJobs = try c.decodeIfPresent(Int.self, forKey: .maxQueuedJobs)
            maxObjectsPerJob = try c.decodeIfPresent(Int.self, forKey: .maxObjectsPerJob)
            maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes)
        }
    }

    var models: [String: ModelEntry]
    var sources: Sources?
    var outputRoot: String?
    var limits: LimitsEntry?
    var checkpointEvery: Int?
    var threadsPerJob: Int?
    var token: String?
    var tokenFile: String?

    enum CodingKeys: String, CodingKey {
        case models, sources, limits, token
        case outputRoot = "output_root", checkpointEvery = "checkpoint_every"
        case threadsPerJob = "threads_per_job", tokenFile = "token_file"
    }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        models = try c.decode([String: ModelEntry].self, forKey: .models)
        sources = try c.decodeIfPresent(Sources.self, forKey: .sources)
        outputRoot = try c.decodeIfPresent(String.self, forKey: .outputRoot)
        limits = try c.decodeIfPresent(LimitsEntry.self, forKey: .limits)
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery)
        threadsPerJob = try c.decodeIfPresent(Int.self, forKey: .threadsPerJob)
        token = try c.decodeIfPresent(String.self, forKey: .token)
        tokenFile = try c.decodeIfPresent(String.self, forKey: .tokenFile)
    }

    func resolved(base: String, dataDirectory: String, configPath: String) throws -> DaemonConfig {
        func absolute(_ path: String) -> String {
            let expanded = (path as NSString).expandingTildeInPath
            return expanded.hasPrefix("/") ? expanded : (base as NSString).appendingPathComponent(expanded)
        }
        var token = token
        if let tokenFile {
            if token != nil { throw ConfigFileError("\(configPath): give either token or token_file, not both") }
            guard let text = try? String(contentsOfFile: absolute(tokenFile), encoding: .utf8) else {
                throw ConfigFileError("\(configPath): cannot read token_file '\(tokenFile)'")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let defaults = DaemonConfig.Limits()
        let limits = DaemonConfig.Limits(
            maxRunningJobs: self.limits?.maxRunningJobs ?? defaults.maxRunningJobs,
            maxQueuedJobs: self.limits?.maxQueuedJobs ?? defaults.maxQueuedJobs,
            maxObjectsPerJob: self.limits?.maxObjectsPerJob ?? defaults.maxObjectsPerJob,
            maxBodyBytes: self.limits?.maxBodyBytes ?? defaults.maxBodyBytes)
        let config = DaemonConfig(
            models: models.mapValues { DaemonConfig.Model(checkpoint: absolute($0.checkpoint), config: $0.config.map(absolute)) },
            sourceRoots: (sources?.roots ?? []).map(absolute),
            sourcePatterns: sources?.patterns ?? [],
            outputRoot: outputRoot.map(absolute) ?? (dataDirectory as NSString).appendingPathComponent("outputs"),
            limits: limits,
            checkpointEvery: checkpointEvery ?? 50,
            threadsPerJob: threadsPerJob,
            token: token)
        do {
            return try config.validated()
        } catch let error as ConfigFileError {
            throw ConfigFileError("\(configPath): \(error.message)")
        }
    }
}

extension CodingKey where Self: CaseIterable {
    static var allNames: [String] { allCases.map(\.stringValue) }
}

extension ConfigFile.CodingKeys: CaseIterable {}
extension ConfigFile.LimitsEntry.CodingKeys: CaseIterable {}
