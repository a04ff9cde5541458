// samtrackd: the tracking daemon (DESIGN §7). Flags, config, wiring; the jobs, the store and the
// HTTP API live in TrackingService, the HTTP server is Hummingbird 2.
//
//   samtrackd [--listen 127.0.0.1:8765] --data DIR --config FILE
//
// Start-up: takes DIR/samtrackd.lock (one daemon per data directory), reads the config, refuses a
// non-loopback --listen without a token, opens DIR/samtrackd.sqlite, resumes unfinished jobs,
// then serves. Prints "samtrackd: listening on HOST:PORT" on stdout once the socket is bound
// (port 0 picks a free one). SIGTERM / SIGINT: running jobs finish their frame and save their
// state, the server stops, exit 0.

import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Tensor
import TrackingService
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct Samtrackd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samtrackd",
        abstract: "SAM 2 video object tracking daemon: an HTTP/JSON API for tracking jobs.",
        discussion: """
        Jobs, their progress and tracker checkpoints live in DIR and survive restarts. The config file \
        (JSON) names the models, the allowed sources, the output root, limits and an optional bearer \
        token; see samtrackd(8).
        """,
        version: "0.1.0")

    @Option(name: .long, help: "Address to listen on: HOST:PORT ([::1]:PORT for IPv6; port 0 picks a free one).")
    var listen = "127.0.0.1:8765"

    @Option(name: .long, help: "Data directory: job database, checkpoints, default output root.")
    var data: String

    @Option(name: .long, help: "Config file (JSON).")
    var config: String

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

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
        let dataDirectory = URL(fileURLWithPath: data).standardizedFileURL.path

        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        } catch {
            fail("cannot create the data directory '\(dataDirectory)': \(error.localizedDescription)")
        }
        let lock = DataDirectoryLock(directory: dataDirectory)
        guard lock.acquire() else {
            fail("another samtrackd is using the data directory '\(dataDirectory)' (\(lock.path) is locked)")
        }
        let daemonConfig: DaemonConfig
        do {
            daemonConfig = try DaemonConfig.load(path: config, dataDirectory: dataDirectory)
        } catch {
            fail("\(error)")
        }
        if !address.isLoopback && daemonConfig.token == nil {
            fail("refusing to listen on \(address) without a bearer token: set \"token\" or \"token_file\" in the config, "
                 + "or listen on a loopback address (127.0.0.1, ::1)")
        }
        let store: JobStore
        do {
            store = try JobStore(path: (dataDirectory as NSString).appendingPathComponent("samtrackd.sqlite"))
        } catch {
            fail("\(error)")
        }
        let manager = JobManager(config: daemonConfig, dataDirectory: dataDirectory, store: store,
                                 log: { logger.info("\($0)") })
        do {
            try manager.start()
        } catch {
            fail("cannot resume the stored jobs: \(error)")
        }
        logger.info("""
            models: \(daemonConfig.models.keys.sorted().joined(separator: ", ")); \
            \(daemonConfig.limits.maxRunningJobs) running job(s) x \(daemonConfig.effectiveThreadsPerJob) thread(s); \
            outputs under \(daemonConfig.outputRoot)\(daemonConfig.token == nil ? "" : "; bearer token required")
            """)

        // Draining (jobs save their state) runs beside the server's own graceful shutdown, which
        // Hummingbird starts on the same signals; the process exits once both are done.
        let shutdown = ShutdownCoordinator(manager: manager, logger: logger)
        shutdown.install()

        let handler = APIHandler(manager: manager)
        let app = Application(
            responder: DaemonResponder(handler: handler),
            configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port),
                                                    serverName: "samtrackd"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                let line = "samtrackd: listening on \(address.hostForDisplay):\(port)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            },
            logger: logger)
        do {
            try await app.runService()
        } catch {
            logger.error("server stopped: \(error)")
            await shutdown.drainOnce()
            throw ExitCode(1)
        }
        await shutdown.drainOnce()
        logger.info("stopped")
    }

    /// Prints `message` and exits with 64 (EX_USAGE-like: the configuration is at fault).
    func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("samtrackd: error: \(message)\n".utf8))
        Foundation.exit(64)
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

/// Starts the job drain once, on the first SIGTERM or SIGINT.
final class ShutdownCoordinator: @unchecked Sendable {
    private let manager: JobManager
    private let logger: Logger
    private let lock = NSLock()
    private var drainTask: Task<Void, Never>?
    private var sources: [DispatchSourceSignal] = []

    init(manager: JobManager, logger: Logger) {
        self.manager = manager
        self.logger = logger
    }

    func install() {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                self?.logger.info("signal \(sig): finishing the current frames, saving state")
                self?.startDrain()
            }
            source.resume()
            sources.append(source)
        }
    }

    @discardableResult
    private func startDrain() -> Task<Void, Never> {
        lock.lock()
        defer { lock.unlock() }
        if let drainTask { return drainTask }
        let manager = self.manager
        let task = Task { await manager.drain() }
        drainTask = task
        return task
    }

    func drainOnce() async {
        await startDrain().value
    }
}
