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
//              "max_body_bytes": 8388608, "max_prompt_pixels": 33554432, "live_idle_timeout_s": 10},
//   "http": {"header_timeout_s": 10, "body_timeout_s": 30, "idle_timeout_s": 75, "max_connections": 256},
//   "checkpoint_every": 50,
//   "threads_per_job": 2,
//   "token": "s3cret"            (or "token_file": "/etc/samtrackd/token")
//   "store": {"sqlite": "jobs.sqlite"}   (default: DATA/samtrackd.sqlite; or {"postgres": "postgresql://user@host:5432/db"})
//   "node": {"name": "node-a", "lease_ttl_s": 30, "heartbeat_s": 5},   (with a shared store)
//   "shared_roots": ["/mnt/shared"]      (directories every node sees at the same path)
// }

import FileIO
import Foundation
import TrackingRun

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
        /// Most mask-prompt pixels one request may carry (decoded, one byte each; 413 beyond):
        /// a small RLE can describe a large mask, so the body limit alone does not bound memory.
        public var maxPromptPixels: Int
        /// A live job whose source sends nothing for this many seconds ends (`source_idle`).
        public var liveIdleTimeout: Double

        public init(maxRunningJobs: Int = Limits.defaultRunningJobs, maxQueuedJobs: Int = 100,
                    maxObjectsPerJob: Int = 32, maxBodyBytes: Int = 8 << 20, maxPromptPixels: Int = 32 << 20,
                    liveIdleTimeout: Double = 10) {
            self.maxRunningJobs = maxRunningJobs
            self.maxQueuedJobs = maxQueuedJobs
            self.maxObjectsPerJob = maxObjectsPerJob
            self.maxBodyBytes = maxBodyBytes
            self.maxPromptPixels = maxPromptPixels
            self.liveIdleTimeout = liveIdleTimeout
        }

        /// max(1, cores / 2): each job then gets at least two threads for its kernels.
        public static var defaultRunningJobs: Int { max(1, ProcessInfo.processInfo.activeProcessorCount / 2) }
    }

    /// Timeouts and connection limits of the HTTP server.
    public struct HTTPLimits: Sendable, Equatable {
        /// A request's head (line and headers) must arrive within this many seconds of the
        /// connection opening or of the previous response.
        public var headerTimeout: Double
        /// A request body may pause at most this long between two chunks.
        public var bodyTimeout: Double
        /// An idle keep-alive connection is closed after this long.
        public var idleTimeout: Double
        /// Open connections at most; further ones wait in the kernel's backlog.
        public var maxConnections: Int

        public init(headerTimeout: Double = 10, bodyTimeout: Double = 30, idleTimeout: Double = 75, maxConnections: Int = 256) {
            self.headerTimeout = headerTimeout
            self.bodyTimeout = bodyTimeout
            self.idleTimeout = idleTimeout
            self.maxConnections = maxConnections
        }
    }

    /// Interactive sessions: how many, how long idle, how large.
    public struct SessionLimits: Sendable, Equatable {
        /// Sessions open at once (429 `too_many_sessions` beyond).
        public var maxSessions: Int
        /// A session without requests for this many seconds is closed and its memory released.
        public var idleTimeToLive: Double
        /// Tracked state one session may hold (logits, memories, pointers); beyond, prompts get
        /// 413 `session_too_large` and a propagation stops.
        public var maxBytes: Int
        /// Image features each session keeps for frames clicked recently (LRU, bytes).
        public var featureCacheBytes: Int
        /// Threads of each session's interactive compute context.
        public var threads: Int
        /// Hole filling in the low-res masks (pixels; 0 = off), as a job's `fill_holes`.
        public var fillHoles: Int

        public init(maxSessions: Int = 8, idleTimeToLive: Double = 600, maxBytes: Int = 2 << 30,
                    featureCacheBytes: Int = 512 << 20, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                    fillHoles: Int = 8) {
            self.fillHoles = fillHoles
            self.maxSessions = maxSessions
            self.idleTimeToLive = idleTimeToLive
            self.maxBytes = maxBytes
            self.featureCacheBytes = featureCacheBytes
            self.threads = threads
        }
    }

    /// Uploaded media: where they go and how large they may be.
    public struct UploadLimits: Sendable, Equatable {
        /// Largest upload (413 `upload_too_large` beyond).
        public var maxBytes: Int
        /// Longest video accepted, in seconds (422 `not_media` beyond).
        public var maxDuration: Double

        public init(maxBytes: Int = 2 << 30, maxDuration: Double = 3600) {
            self.maxBytes = maxBytes
            self.maxDuration = maxDuration
        }
    }

    public var models: [String: Model]
    /// Directories (symlinks resolved) that file sources must lie under.
    public var sourceRoots: [String]
    /// fnmatch(3) patterns (with FNM_PATHNAME) for devices and stream URLs.
    public var sourcePatterns: [String]
    /// Directory every job's output path is relative to (symlinks resolved).
    public var outputRoot: String
    public var limits: Limits
    public var http: HTTPLimits
    public var sessions: SessionLimits
    public var uploads: UploadLimits
    /// Where uploaded and registered media live (default DATA/media).
    public var mediaRoot: String
    /// Directories a job's file source may lie under: the source roots and the media root (the
    /// uploads, which a session's job replays).
    public var readableRoots: [String] { sourceRoots + [mediaRoot] }
    /// Save each file job's tracker state every this many frames.
    public var checkpointEvery: Int
    /// Kernel threads per job (Tensor's pool and OpenBLAS); nil = cores / max_running_jobs.
    public var threadsPerJob: Int?
    /// Bearer token every request except /healthz must carry; nil = no authentication.
    public var token: String?
    /// Where the jobs are kept.
    public var store: Store = .sqlite(path: nil)
    /// This node's name and lease timing (used with a shared store).
    public var node = Node()
    /// Directories that every node sees at the same path (symlinks resolved). With a shared store and
    /// shared roots given, the output root, the media root and every file source must lie under one.
    public var sharedRoots: [String] = []

    /// The job store: SQLite for one machine, PostgreSQL for several nodes.
    public enum Store: Sendable, Equatable {
        /// A file (nil: DATA/samtrackd.sqlite).
        case sqlite(path: String?)
        /// A postgresql:// URL.
        case postgres(url: String)

        /// `--store`: a postgresql:// (or postgres://) URL, else a SQLite file path.
        public init(argument: String) {
            if argument.hasPrefix("postgresql://") || argument.hasPrefix("postgres://") {
                self = .postgres(url: argument)
            } else {
                self = .sqlite(path: argument)
            }
        }

        public var isShared: Bool { if case .postgres = self { return true } else { return false } }
    }

    /// A node of a shared store.
    public struct Node: Sendable, Equatable {
        /// Recorded with each lease (default: the host name).
        public var name: String
        /// A node that has not renewed its lease for this long loses its job to another node.
        public var leaseTTL: Double
        /// How often a node renews the leases of the jobs it runs (and sees cancel requests).
        public var heartbeat: Double

        public init(name: String = ProcessInfo.processInfo.hostName, leaseTTL: Double = 30, heartbeat: Double = 5) {
            self.name = name
            self.leaseTTL = leaseTTL
            self.heartbeat = heartbeat
        }
    }

    public init(models: [String: Model], sourceRoots: [String] = [], sourcePatterns: [String] = [],
                outputRoot: String, limits: Limits = Limits(), http: HTTPLimits = HTTPLimits(),
                sessions: SessionLimits = SessionLimits(), uploads: UploadLimits = UploadLimits(), mediaRoot: String? = nil,
                checkpointEvery: Int = 50, threadsPerJob: Int? = nil, token: String? = nil) {
        self.sessions = sessions
        self.uploads = uploads
        self.mediaRoot = mediaRoot ?? ((outputRoot as NSString).deletingLastPathComponent as NSString).appendingPathComponent("media")
        self.models = models
        self.sourceRoots = sourceRoots
        self.sourcePatterns = sourcePatterns
        self.outputRoot = outputRoot
        self.limits = limits
        self.http = http
        self.checkpointEvery = checkpointEvery
        self.threadsPerJob = threadsPerJob
        self.token = token
    }

    /// The model a session uses when it names none: "default" when configured, else the first name.
    public var defaultModel: String { models["default"] != nil ? "default" : models.keys.sorted().first ?? "" }

    /// Threads each running job's kernels use, so that running jobs x threads <= cores.
    public var effectiveThreadsPerJob: Int {
        threadsPerJob ?? max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, limits.maxRunningJobs))
    }

    /// Reads and checks `path`; `dataDirectory` provides the default output root (DATA/outputs).
    /// Without a path, every setting takes its default; a file without "models" (or no file) gets
    /// `defaultModel` (the bundled checkpoint) as the model "default".
    public static func load(path: String?, dataDirectory: String, defaultModel: String? = nil) throws -> DaemonConfig {
        guard let path else {
            let file = try JSONDecoder().decode(ConfigFile.self, from: Data("{}".utf8))
            return try file.resolved(base: dataDirectory, dataDirectory: dataDirectory, configPath: "(built-in defaults)",
                                     defaultModel: defaultModel)
        }
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
        return try file.resolved(base: base, dataDirectory: dataDirectory, configPath: path, defaultModel: defaultModel)
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
            try DirectoryHandle.makeDirectories(outputRoot)
        } catch {
            throw ConfigFileError("cannot create the output root: \(error)")
        }
        guard let realOutput = PathPolicy.realPath(outputRoot) else {
            throw ConfigFileError("the output root '\(outputRoot)' cannot be resolved")
        }
        config.outputRoot = realOutput
        do {
            try DirectoryHandle.makeDirectories(mediaRoot)
        } catch {
            throw ConfigFileError("cannot create the media root: \(error)")
        }
        guard let realMedia = PathPolicy.realPath(mediaRoot) else { throw ConfigFileError("the media root '\(mediaRoot)' cannot be resolved") }
        config.mediaRoot = realMedia
        let s = sessions, u = uploads
        for (name, value) in [("sessions.max", s.maxSessions), ("sessions.max_bytes", s.maxBytes),
                              ("cache.features_bytes", s.featureCacheBytes), ("sessions.threads", s.threads),
                              ("uploads.max_bytes", u.maxBytes)] where value < 1 {
            throw ConfigFileError("\(name) must be at least 1 (is \(value))")
        }
        for (name, value) in [("sessions.idle_ttl_s", s.idleTimeToLive), ("uploads.max_duration_s", u.maxDuration)]
            where !(value > 0 && value <= 31_536_000) {
            throw ConfigFileError("\(name) must be a positive number of seconds (is \(value))")
        }
        let l = limits
        for (name, value) in [("max_running_jobs", l.maxRunningJobs), ("max_queued_jobs", l.maxQueuedJobs),
                              ("max_objects_per_job", l.maxObjectsPerJob), ("max_body_bytes", l.maxBodyBytes),
                              ("max_prompt_pixels", l.maxPromptPixels), ("http.max_connections", http.maxConnections),
                              ("checkpoint_every", checkpointEvery)] where value < 1 {
            throw ConfigFileError("\(name) must be at least 1 (is \(value))")
        }
        for (name, value) in [("live_idle_timeout_s", l.liveIdleTimeout), ("http.header_timeout_s", http.headerTimeout),
                              ("http.body_timeout_s", http.bodyTimeout), ("http.idle_timeout_s", http.idleTimeout)]
            where !(value > 0 && value <= 86_400) {
            throw ConfigFileError("\(name) must be a number of seconds in (0, 86400] (is \(value))")
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if let threadsPerJob, threadsPerJob < 1 || threadsPerJob > 4 * cores {
            throw ConfigFileError("threads_per_job must be in 1...\(4 * cores) (4 x the \(cores) cores)")
        }
        if let token, token.count < 8 || token.contains(where: { $0.isWhitespace }) {
            throw ConfigFileError("the token must be at least 8 characters without spaces")
        }
        if case let .postgres(url) = store {
            do { _ = try PostgresLocation(url: url) } catch { throw ConfigFileError("store.postgres: \(error)") }
        }
        guard node.name.range(of: "^[A-Za-z0-9._:@-]{1,128}$", options: .regularExpression) != nil else {
            throw ConfigFileError("node.name '\(node.name)': use 1-128 letters, digits, '.', '_', ':', '@' or '-'")
        }
        guard node.leaseTTL > 0 && node.leaseTTL <= 3600, node.heartbeat > 0 && node.heartbeat < node.leaseTTL else {
            throw ConfigFileError("node: lease_ttl_s must be in (0, 3600] and heartbeat_s positive and below it "
                                  + "(are \(node.leaseTTL) and \(node.heartbeat))")
        }
        config.sharedRoots = try sharedRoots.map { root in
            guard let real = PathPolicy.realPath(root), PathPolicy.isDirectory(real) else {
                throw ConfigFileError("shared root '\(root)' is not an existing directory")
            }
            return real
        }
        if store.isShared && !config.sharedRoots.isEmpty {
            for (name, path) in [("output_root", config.outputRoot), ("media_root", config.mediaRoot)]
                where !PathPolicy.isUnder(path, roots: config.sharedRoots) {
                throw ConfigFileError("\(name) '\(path)' is not under a shared root (shared_roots): "
                                      + "another node resuming a job could not reach it")
            }
        }
        return config
    }
}

