// samtrackd: the tracking daemon (DESIGN §7). Flags, config, wiring; the jobs, the store and the
// HTTP API live in TrackingDaemon, the HTTP server is Hummingbird 2, and the server and the job
// scheduler run as one swift-service-lifecycle group.
//
//   samtrackd [--listen 127.0.0.1:8765] [--data DIR] [--config FILE] [--store URL|FILE] [--ignore-orphans]
//
// With no flags: DIR is `DataDirectory.default` ($SAMTRACK_DATA, else $XDG_DATA_HOME/samtrack, else
// ~/.local/share/samtrack), the model is the bundled default (TrackingRun's `BundledFile`), every
// other setting its default; a config file only overrides. The web app (Sources/Web) is served at
// `/` when found (`BundledFile.webApp`).
//
// Start-up: takes DIR/samtrackd.lock (one daemon per data directory), reads the config, refuses a
// non-loopback --listen without a token, opens the job store (DIR/samtrackd.sqlite by default; a
// postgresql:// URL from --store or the config's "store" makes this daemon one node of several),
// recovers unfinished jobs, then serves. Prints "samtrackd: listening on HOST:PORT" on stdout once the socket is bound
// (port 0 picks a free one). SIGTERM / SIGINT: running jobs finish their frame and save their
// state, the server stops, exit 0. Exit codes: `DaemonExit`.

import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdCore
import FileIO
import Logging
import NIOCore
import ServiceLifecycle
import Tensor
import TrackingDaemon
import TrackingRun
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The daemon's exit codes (sysexits.h names; the table in samtrackd(8)).
enum DaemonExit: Int32 {
    /// Stopped by SIGTERM / SIGINT after draining.
    case ok = 0
    /// The server failed while running.
    case failure = 1
    /// Bad flags or config file (EX_USAGE).
    case usage = 64
    /// The data directory holds state the job database does not know, or the database is
    /// unreadable (EX_DATAERR).
    case dataError = 65
    /// The address is in use or another daemon holds the data directory (EX_UNAVAILABLE).
    case unavailable = 69
    /// The data directory cannot be created or written (EX_CANTCREAT).
    case cannotCreate = 73
}

@main
struct Samtrackd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samtrackd",
        abstract: "SAM 2 video object tracking daemon: an HTTP/JSON API for tracking jobs.",
        discussion: """
        Jobs, their progress and tracker checkpoints live in DIR and survive restarts. The config file \
        (JSON) names the models, the allowed sources, the output root, limits and an optional bearer \
        token; see samtrackd(8). With no flags: the bundled default model, a data directory under \
        $XDG_DATA_HOME, 127.0.0.1:8765, and the web app at http://127.0.0.1:8765/.
        """,
        version: "0.2.0")

    @Option(name: .long, help: "Address to listen on: HOST:PORT ([::1]:PORT for IPv6; port 0 picks a free one).")
    var listen = "127.0.0.1:8765"

    @Option(name: .long, help: "Data directory: job database, media, checkpoints, default output root (default: $SAMTRACK_DATA, else $XDG_DATA_HOME/samtrack, else ~/.local/share/samtrack).")
    var data: String?

    @Option(name: .long, help: "Config file (JSON); without one every setting has its default and the model is the bundled synth.pt.")
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(name: .long, help: "Job store, overriding \"store\" in the config: a postgresql://USER@HOST:PORT/DB URL (several daemons share its jobs) or a SQLite file.")
    var store: String?

    @Flag(name: .long, help: "Start even when the data directory holds checkpoints or outputs of jobs the database does not know (they are left in place).")
    var ignoreOrphans = false

    func validate() throws {
        _ = try ListenAddress(listen)
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        // Jobs run on their own threads: one heap for all, freed tensors reused (`HeapTuning`).
        HeapTuning.apply(singleArena: true)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "samtrackd")
        let address = try ListenAddress(listen)
        let dataDirectory = URL(fileURLWithPath: data ?? DataDirectory.default()).standardizedFileURL.path

        do {
            try DirectoryHandle.makeDirectories(dataDirectory)
        } catch {
            fail(.cannotCreate, "cannot create the data directory: \(error)")
        }
        let lock = DataDirectoryLock(directory: dataDirectory)
        guard lock.acquire() else {
            fail(.unavailable, "another samtrackd is using the data directory '\(dataDirectory)' (\(lock.path) is locked)")
        }
        var daemonConfig: DaemonConfig
        do {
            daemonConfig = try DaemonConfig.load(path: config, dataDirectory: dataDirectory,
                                                 defaultModel: BundledFile.defaultModel.find())
            if let store {
                daemonConfig.store = .init(argument: store.hasPrefix("postgres") ? store
                                           : URL(fileURLWithPath: store).standardizedFileURL.path)
                daemonConfig = try daemonConfig.validated()
            }
        } catch {
            let hint = config == nil && BundledFile.defaultModel.find() == nil ? " (\(BundledFile.defaultModel.notFoundMessage()))" : ""
            fail(.usage, "\(error)\(hint)")
        }
        if !address.isLoopback && daemonConfig.token == nil {
            fail(.usage, "refusing to listen on \(address) without a bearer token: set \"token\" or \"token_file\" in the config, "
                 + "or listen on a loopback address (127.0.0.1, ::1)")
        }
        let store: any JobStore
        switch daemonConfig.store {
        case let .sqlite(path):
            do {
                store = try SQLiteJobStore(path: path ?? (dataDirectory as NSString).appendingPathComponent("samtrackd.sqlite"))
            } catch {
                fail(.dataError, "\(error)")
            }
        case let .postgres(url):
            do {
                let shared = try PostgresJobStore(url: url, nodeName: daemonConfig.node.name)
                let node = daemonConfig.node
                logger.info("job store: \(shared.location), node \(shared.nodeName) (lease \(node.leaseTTL) s, heartbeat \(node.heartbeat) s)")
                store = shared
            } catch {
                fail(.unavailable, "job store: \(error)")
            }
        }
        let manager = JobManager(config: daemonConfig, dataDirectory: dataDirectory, store: store,
                                 log: { logger.info("\($0)") })
        do {
            try manager.start(ignoringOrphans: ignoreOrphans)
        } catch {
            fail(.dataError, "\(error)")
        }
        logger.info("""
            models: \(daemonConfig.models.keys.sorted().joined(separator: ", ")); \
            \(daemonConfig.limits.maxRunningJobs) running job(s) x \(daemonConfig.effectiveThreadsPerJob) thread(s); \
            outputs under \(daemonConfig.outputRoot)\(daemonConfig.token == nil ? "" : "; bearer token required")
            """)

        let http = daemonConfig.http
        let media: MediaRegistry
        do {
            media = try MediaRegistry(root: daemonConfig.mediaRoot, limits: daemonConfig.uploads, policy: manager.policy,
                                      log: { logger.info("\($0)") })
        } catch {
            fail(.cannotCreate, "cannot open the media root: \(error)")
        }
        let mediaRoot = daemonConfig.mediaRoot, sourceRoots = daemonConfig.sourceRoots
        let frames = MediaFrameServer(roots: { $0.uploaded ? [mediaRoot] : sourceRoots })
        let sessions = SessionManager(limits: daemonConfig.sessions, models: manager.models,
                                      defaultModel: daemonConfig.defaultModel,
                                      findMedia: { id in RegisteredMedia(record: try media.record(id), server: frames) },
                                      log: { logger.info("\($0)") })
        let web: WebAssets? = {
            guard let folder = BundledFile.webApp.find() else {
                logger.warning("web app not served: \(BundledFile.webApp.notFoundMessage())")
                return nil
            }
            do {
                let assets = try WebAssets(root: folder)
                logger.info("web app: \(assets.root)")
                return assets
            } catch {
                logger.warning("web app not served: \(error)")
                return nil
            }
        }()
        let handler = APIHandler(manager: manager, sessions: sessions, media: media, frames: frames, web: web)
        let app = Application(
            responder: DaemonResponder(handler: handler),
            server: .http1(configuration: .init(
                additionalChannelHandlers: [HTTPTimeoutsHandler(headerTimeout: .milliseconds(Int64(http.headerTimeout * 1000)),
                                                                bodyTimeout: .milliseconds(Int64(http.bodyTimeout * 1000)),
                                                                idleTimeout: .milliseconds(Int64(http.idleTimeout * 1000)))],
                idleTimeout: .milliseconds(Int64(http.idleTimeout * 1000)))),
            configuration: ApplicationConfiguration(
                address: .hostname(address.host, port: address.port), serverName: "samtrackd",
                availableConnectionsDelegate: MaximumAvailableConnections(http.maxConnections, logger: logger)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                var line = "samtrackd: listening on \(address.hostForDisplay):\(port)\n"
                if web != nil { line += "samtrackd: open http://\(address.hostForDisplay):\(port)/ in a browser\n" }
                FileHandle.standardOutput.write(Data(line.utf8))
            },
            logger: logger)
        // Graceful shutdown on SIGTERM / SIGINT, in reverse order of the services: first the
        // scheduler drains (running jobs finish their frame and save their state, their event
        // streams end), then the server stops.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: JobService(manager: manager, logger: logger)),
                       .init(service: SessionService(sessions: sessions))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await manager.drain()
            if let io = error as? IOError, io.errnoCode == EADDRINUSE {
                fail(.unavailable, "cannot listen on \(address): the address is already in use")
            }
            logger.error("server stopped: \(error)")
            throw ExitCode(DaemonExit.failure.rawValue)
        }
        logger.info("stopped")
    }

    /// Prints `message` and exits with `code`.
    func fail(_ code: DaemonExit, _ message: String) -> Never {
        FileHandle.standardError.write(Data("samtrackd: error: \(message)\n".utf8))
        Foundation.exit(code.rawValue)
    }
}

/// Expires idle sessions until shutdown, then closes every session.
struct SessionService: Service {
    let sessions: SessionManager

    func run() async throws {
        try? await cancelWhenGracefulShutdown { await sessions.runSweeper() }
        sessions.closeAll()
    }
}

/// The job scheduler as a lifecycle service: runs until graceful shutdown, then drains.
struct JobService: Service {
    let manager: JobManager
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("shutting down: finishing the current frames, saving state")
        await manager.drain()
    }
}

/// HOST:PORT as given to --listen.
struct ListenAddress: CustomStringConvertible {
    var host: String
    var port: Int

    init(_ text: String) throws {
        var hostPart: Substring, portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ValidationError("--listen '\(text)': expected [IPV6]:PORT")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw ValidationError("--listen '\(text)': expected HOST:PORT") }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = Int(portPart), (0...65535).contains(port) else {
            throw ValidationError("--listen '\(text)': expected HOST:PORT with a port in 0...65535")
        }
        host = String(hostPart)
        self.port = port
    }

    /// 127.0.0.0/8, ::1 and localhost.
    var isLoopback: Bool {
        if host == "localhost" || host == "::1" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { bytes in bytes.dropLast().allSatisfy { $0 == 0 } && bytes.last == 1 }
        }
        return false
    }

    var hostForDisplay: String { host.contains(":") ? "[\(host)]" : host }
    var description: String { "\(hostForDisplay):\(port)" }
}

/// An exclusive flock(2) on DIR/samtrackd.lock, held for the life of the process (released by the
/// kernel when the process dies, even by kill -9).
final class DataDirectoryLock {
    let path: String
    private var fd: Int32 = -1

    init(directory: String) {
        path = (directory as NSString).appendingPathComponent("samtrackd.lock")
    }

    func acquire() -> Bool {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return false }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        return true
    }
}


/// The data directory used without --data.
enum DataDirectory {
    /// $SAMTRACK_DATA, else $XDG_DATA_HOME/samtrack, else ~/.local/share/samtrack.
    static func `default`(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment["SAMTRACK_DATA"], !path.isEmpty { return path }
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") { return (xdg as NSString).appendingPathComponent("samtrack") }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".local/share/samtrack")
    }
}
