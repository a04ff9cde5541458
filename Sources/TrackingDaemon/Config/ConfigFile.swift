// ConfigFile: the JSON shape of the daemon's config file (DaemonConfig.swift): strict keys,
// paths relative to the file, defaults filled in, then `DaemonConfig.validated()`.

import Foundation
import TrackingRun

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
        var maxPromptPixels: Int?
        var liveIdleTimeout: Double?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case maxRunningJobs = "max_running_jobs", maxQueuedJobs = "max_queued_jobs"
            case maxObjectsPerJob = "max_objects_per_job", maxBodyBytes = "max_body_bytes"
            case maxPromptPixels = "max_prompt_pixels", liveIdleTimeout = "live_idle_timeout_s"
        }
        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            maxRunningJobs = try c.decodeIfPresent(Int.self, forKey: .maxRunningJobs)
            maxQueuedJobs = try c.decodeIfPresent(Int.self, forKey: .maxQueuedJobs)
            maxObjectsPerJob = try c.decodeIfPresent(Int.self, forKey: .maxObjectsPerJob)
            maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes)
            maxPromptPixels = try c.decodeIfPresent(Int.self, forKey: .maxPromptPixels)
            liveIdleTimeout = try c.decodeIfPresent(Double.self, forKey: .liveIdleTimeout)
        }
    }
    struct HTTPEntry: Decodable {
        var headerTimeout: Double?
        var bodyTimeout: Double?
        var idleTimeout: Double?
        var maxConnections: Int?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case headerTimeout = "header_timeout_s", bodyTimeout = "body_timeout_s", idleTimeout = "idle_timeout_s"
            case maxConnections = "max_connections"
        }
        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            headerTimeout = try c.decodeIfPresent(Double.self, forKey: .headerTimeout)
            bodyTimeout = try c.decodeIfPresent(Double.self, forKey: .bodyTimeout)
            idleTimeout = try c.decodeIfPresent(Double.self, forKey: .idleTimeout)
            maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections)
        }
    }

    struct SessionsEntry: Decodable {
        var max: Int?
        var idleTTL: Double?
        var maxBytes: Int?
        var threads: Int?
        var fillHoles: Int?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case max, threads, idleTTL = "idle_ttl_s", maxBytes = "max_bytes", fillHoles = "fill_holes"
        }
        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            max = try c.decodeIfPresent(Int.self, forKey: .max)
            idleTTL = try c.decodeIfPresent(Double.self, forKey: .idleTTL)
            maxBytes = try c.decodeIfPresent(Int.self, forKey: .maxBytes)
            threads = try c.decodeIfPresent(Int.self, forKey: .threads)
            fillHoles = try c.decodeIfPresent(Int.self, forKey: .fillHoles)
        }
    }
    struct UploadsEntry: Decodable {
        var maxBytes: Int?
        var maxDuration: Double?
        enum CodingKeys: String, CodingKey, CaseIterable { case maxBytes = "max_bytes", maxDuration = "max_duration_s" }
        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            maxBytes = try c.decodeIfPresent(Int.self, forKey: .maxBytes)
            maxDuration = try c.decodeIfPresent(Double.self, forKey: .maxDuration)
        }
    }
    struct CacheEntry: Decodable {
        var featuresBytes: Int?
        enum CodingKeys: String, CodingKey, CaseIterable { case featuresBytes = "features_bytes" }
        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
            featuresBytes = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Int.self, forKey: .featuresBytes)
        }
    }

    struct StoreEntry: Decodable {
        var sqlite: String?
        var postgres: String?
        enum CodingKeys: String, CodingKey, CaseIterable { case sqlite, postgres }
        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            sqlite = try c.decodeIfPresent(String.self, forKey: .sqlite)
            postgres = try c.decodeIfPresent(String.self, forKey: .postgres)
        }
    }
    struct NodeEntry: Decodable {
        var name: String?
        var leaseTTL: Double?
        var heartbeat: Double?
        enum CodingKeys: String, CodingKey, CaseIterable { case name, leaseTTL = "lease_ttl_s", heartbeat = "heartbeat_s" }
        init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decodeIfPresent(String.self, forKey: .name)
            leaseTTL = try c.decodeIfPresent(Double.self, forKey: .leaseTTL)
            heartbeat = try c.decodeIfPresent(Double.self, forKey: .heartbeat)
        }
    }

    /// nil: the bundled default model alone (`DaemonConfig.load`'s `defaultModel`).
    var models: [String: ModelEntry]?
    var store: StoreEntry?
    var node: NodeEntry?
    var sharedRoots: [String]?
    var sessions: SessionsEntry?
    var uploads: UploadsEntry?
    var cache: CacheEntry?
    var mediaRoot: String?
    var sources: Sources?
    var outputRoot: String?
    var limits: LimitsEntry?
    var http: HTTPEntry?
    var checkpointEvery: Int?
    var threadsPerJob: Int?
    var token: String?
    var tokenFile: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case models, sources, limits, http, token, sessions, uploads, cache, store, node
        case sharedRoots = "shared_roots"
        case mediaRoot = "media_root"
        case outputRoot = "output_root", checkpointEvery = "checkpoint_every"
        case threadsPerJob = "threads_per_job", tokenFile = "token_file"
    }

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allNames))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        models = try c.decodeIfPresent([String: ModelEntry].self, forKey: .models)
        sources = try c.decodeIfPresent(Sources.self, forKey: .sources)
        outputRoot = try c.decodeIfPresent(String.self, forKey: .outputRoot)
        limits = try c.decodeIfPresent(LimitsEntry.self, forKey: .limits)
        http = try c.decodeIfPresent(HTTPEntry.self, forKey: .http)
        sessions = try c.decodeIfPresent(SessionsEntry.self, forKey: .sessions)
        uploads = try c.decodeIfPresent(UploadsEntry.self, forKey: .uploads)
        cache = try c.decodeIfPresent(CacheEntry.self, forKey: .cache)
        mediaRoot = try c.decodeIfPresent(String.self, forKey: .mediaRoot)
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery)
        threadsPerJob = try c.decodeIfPresent(Int.self, forKey: .threadsPerJob)
        token = try c.decodeIfPresent(String.self, forKey: .token)
        tokenFile = try c.decodeIfPresent(String.self, forKey: .tokenFile)
        store = try c.decodeIfPresent(StoreEntry.self, forKey: .store)
        node = try c.decodeIfPresent(NodeEntry.self, forKey: .node)
        sharedRoots = try c.decodeIfPresent([String].self, forKey: .sharedRoots)
    }

    func resolved(base: String, dataDirectory: String, configPath: String, defaultModel: String? = nil) throws -> DaemonConfig {
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
            maxBodyBytes: self.limits?.maxBodyBytes ?? defaults.maxBodyBytes,
            maxPromptPixels: self.limits?.maxPromptPixels ?? defaults.maxPromptPixels,
            liveIdleTimeout: self.limits?.liveIdleTimeout ?? defaults.liveIdleTimeout)
        let httpDefaults = DaemonConfig.HTTPLimits()
        let http = DaemonConfig.HTTPLimits(
            headerTimeout: self.http?.headerTimeout ?? httpDefaults.headerTimeout,
            bodyTimeout: self.http?.bodyTimeout ?? httpDefaults.bodyTimeout,
            idleTimeout: self.http?.idleTimeout ?? httpDefaults.idleTimeout,
            maxConnections: self.http?.maxConnections ?? httpDefaults.maxConnections)
        var config = DaemonConfig(
            models: models.map { $0.mapValues { DaemonConfig.Model(checkpoint: absolute($0.checkpoint), config: $0.config.map(absolute)) } }
                ?? (defaultModel.map { ["default": DaemonConfig.Model(checkpoint: $0)] } ?? [:]),
            sourceRoots: (sources?.roots ?? []).map(absolute),
            sourcePatterns: sources?.patterns ?? [],
            outputRoot: outputRoot.map(absolute) ?? (dataDirectory as NSString).appendingPathComponent("outputs"),
            limits: limits,
            http: http,
            sessions: DaemonConfig.SessionLimits(
                maxSessions: sessions?.max ?? 8, idleTimeToLive: sessions?.idleTTL ?? 600,
                maxBytes: sessions?.maxBytes ?? (2 << 30), featureCacheBytes: cache?.featuresBytes ?? (512 << 20),
                threads: sessions?.threads ?? ProcessInfo.processInfo.activeProcessorCount, fillHoles: sessions?.fillHoles ?? 8),
            uploads: DaemonConfig.UploadLimits(maxBytes: uploads?.maxBytes ?? (2 << 30), maxDuration: uploads?.maxDuration ?? 3600),
            mediaRoot: mediaRoot.map(absolute) ?? (dataDirectory as NSString).appendingPathComponent("media"),
            checkpointEvery: checkpointEvery ?? 50,
            threadsPerJob: threadsPerJob,
            token: token)
        switch (store?.sqlite, store?.postgres) {
        case (nil, nil): break
        case let (path?, nil): config.store = .sqlite(path: absolute(path))
        case let (nil, url?): config.store = .postgres(url: url)
        default: throw ConfigFileError("\(configPath): store: give either \"sqlite\" or \"postgres\", not both")
        }
        let nodeDefaults = DaemonConfig.Node()
        config.node = DaemonConfig.Node(name: node?.name ?? nodeDefaults.name, leaseTTL: node?.leaseTTL ?? nodeDefaults.leaseTTL,
                                        heartbeat: node?.heartbeat ?? nodeDefaults.heartbeat)
        config.sharedRoots = (sharedRoots ?? []).map(absolute)
        do {
            return try config.validated()
        } catch let error as ConfigFileError {
            throw ConfigFileError("\(configPath): \(error.message)")
        }
    }
}


