// PostgresServer: a private PostgreSQL server for one test, from Debian's packages
// (`postgresql`, installed by Tools/install-deps.sh): `initdb` into a temporary directory, then
// `postgres` on 127.0.0.1 with a free port and its socket in that directory, trust authentication
// for the user `samtrack`. initdb and postgres refuse to run as root: as root they run as the
// `postgres` user (or `nobody`) through runuser(1), owning the temporary directory.
//
// Missing server binaries skip the test on a developer's machine, and fail it under CI (the `CI`
// environment variable set): there a missing server must never pass silently.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A test class's PostgreSQL server, started on first use (initdb takes seconds, so one per class)
/// and stopped by `stop()` in the class's `tearDown`.
public final class ClassPostgres: @unchecked Sendable {  // touched only from the test thread
    private var server: PostgresServer?

    public init() {}

    /// The running server; skips the test where PostgreSQL is not installed (fails it under CI).
    public func server(file: StaticString = #filePath, line: UInt = #line) throws -> PostgresServer {
        if let server { return server }
        let started = try PostgresServer.start(file: file, line: line)
        server = started
        return started
    }

    /// A new, empty database on the server; returns its URL.
    public func newDatabase(prefix: String = "t") throws -> String {
        try server().createDatabase(prefix + "_" + UUID().uuidString.prefix(13).lowercased().replacingOccurrences(of: "-", with: ""))
    }

    /// Stops the server and removes its directory.
    public func stop() { server = nil }
}

public final class PostgresServer: @unchecked Sendable {  // fields set once in init; `process` replaced only by start/stop from the test thread
    /// Directory of initdb, postgres, pg_isready, createdb.
    public let binDirectory: String
    /// Temporary directory: data/, the socket, the log.
    public let root: String
    public let port: Int
    public let user = "samtrack"
    /// The account the server runs as when the tests run as root (nil: the current user).
    let runAs: String?
    private var process: Process?

    public var dataDirectory: String { root + "/data" }
    public var logPath: String { root + "/server.log" }
    /// The server's log (for failure messages).
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The newest installed server's bin directory (SAMTRACK_PG_BIN overrides), or nil.
    public static var installedBinDirectory: String? {
        if let explicit = ProcessInfo.processInfo.environment["SAMTRACK_PG_BIN"], !explicit.isEmpty { return explicit }
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).compactMap(Int.init).sorted()
        return versions.reversed().map { "\(base)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: $0 + "/postgres") && FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }

    /// Starts a new server; skips the test when PostgreSQL is not installed (fails it under CI).
    public static func start(file: StaticString = #filePath, line: UInt = #line) throws -> PostgresServer {
        guard let bin = installedBinDirectory else {
            let message = "PostgreSQL's server binaries were not found under /usr/lib/postgresql/*/bin "
                + "(apt-get install postgresql, as Tools/install-deps.sh does; or set SAMTRACK_PG_BIN)"
            if ProcessInfo.processInfo.environment["CI"] != nil {
                XCTFail(message, file: file, line: line)
                throw PostgresServerError(message)
            }
            throw XCTSkip(message)
        }
        return try PostgresServer(binDirectory: bin)
    }

    init(binDirectory: String) throws {
        self.binDirectory = binDirectory
        var template = Array("/tmp/samtrack-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw PostgresServerError("mkdtemp failed: errno \(errno)") }
        root = String(cString: made)
        if geteuid() == 0 {
            let account = getpwnam("postgres") != nil ? "postgres" : "nobody"
            guard let entry = getpwnam(account) else { throw PostgresServerError("no account to run PostgreSQL as (postgres, nobody)") }
            guard chown(root, entry.pointee.pw_uid, entry.pointee.pw_gid) == 0 else {
                throw PostgresServerError("cannot give \(root) to \(account): errno \(errno)")
            }
            runAs = account
        } else {
            runAs = nil
        }
        port = try Self.freePort()
        try runToEnd(binDirectory + "/initdb", ["-D", dataDirectory, "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync",
                                                 "--no-instructions"], timeout: 120)
        try start()
    }

    /// Starts the server on the existing data directory and waits until it accepts connections.
    public func start(timeout: Double = 60) throws {
        let process = Process()
        let arguments = [binDirectory + "/postgres", "-D", dataDirectory, "-p", String(port), "-k", root,
                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200",
                         "-c", "logging_collector=off"]
        command(arguments, into: process)
        let logHandle = FileHandle(forWritingAtPath: logPath) ?? {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            return FileHandle(forWritingAtPath: logPath)!
        }()
        logHandle.seekToEndOfFile()
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        self.process = process
        Self.leftovers.add(dataDirectory)
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if !process.isRunning { throw PostgresServerError("postgres exited at start-up: \(log)") }
            if (try? runToEnd(binDirectory + "/pg_isready", ["-h", "127.0.0.1", "-p", String(port), "-U", user], timeout: 10, quiet: true)) != nil {
                return
            }
            usleep(100_000)
        }
        throw PostgresServerError("postgres did not accept connections within \(Int(timeout)) s: \(log)")
    }

    /// Stops the server (fast shutdown: clients are disconnected) and waits for it to exit.
    public func stop(timeout: Double = 30) {
        guard let process, process.isRunning else { return }
        if let pid = postmasterPID { kill(pid, SIGINT) } else { process.interrupt() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning, let pid = postmasterPID { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    /// The server's process id from postmaster.pid (the process itself when runuser wraps it).
    var postmasterPID: pid_t? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first else { return nil }
        return pid_t(first.trimmingCharacters(in: .whitespaces))
    }

    /// Creates a database; returns its URL.
    public func createDatabase(_ name: String) throws -> String {
        try runToEnd(binDirectory + "/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", user, name], timeout: 60)
        return url(database: name)
    }

    /// postgresql://samtrack@127.0.0.1:PORT/NAME
    public func url(database: String) -> String { "postgresql://\(user)@127.0.0.1:\(port)/\(database)" }

    /// Runs psql with `sql`; returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(_ database: String, _ sql: String) throws -> String {
        try runToEnd(binDirectory + "/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", database,
                                              "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], timeout: 60)
    }

    deinit {
        stop()
        Self.leftovers.remove(dataDirectory)
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Data directories of servers still running; stopped when the test process exits, even when
    /// a server object was never released (a class-level server, a failed test).
    static let leftovers: Leftovers = {
        atexit { PostgresServer.leftovers.stopAll() }
        return Leftovers()
    }()

    final class Leftovers: @unchecked Sendable {  // `directories` behind `lock`
        private let lock = NSLock()
        private var directories: Set<String> = []
        func add(_ directory: String) { _ = lock.withLock { directories.insert(directory) } }
        func remove(_ directory: String) { _ = lock.withLock { directories.remove(directory) } }
        func stopAll() {
            for directory in lock.withLock({ directories }) {
                guard let text = try? String(contentsOfFile: directory + "/postmaster.pid", encoding: .utf8),
                      let first = text.split(separator: "\n").first, let pid = pid_t(first) else { continue }
                kill(pid, SIGQUIT)  // immediate shutdown: the process is ending
                try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent)
            }
        }
    }

    private func command(_ arguments: [String], into process: Process) {
        if let runAs {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            process.arguments = ["-u", runAs, "--"] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: arguments[0])
            process.arguments = Array(arguments.dropFirst())
        }
        process.currentDirectoryURL = URL(fileURLWithPath: root)
    }

    /// Runs a tool to its end (as the server's account for initdb); returns its output, throws on failure.
    @discardableResult
    private func runToEnd(_ executable: String, _ arguments: [String], timeout: Double, quiet: Bool = false) throws -> String {
        let process = Process()
        if executable.hasSuffix("/initdb") {
            command([executable] + arguments, into: process)
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let collected = Collected()
        let reader = Thread { collected.set(output.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let deadline = Date(timeIntervalSinceNow: timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw PostgresServerError("\(executable) did not finish within \(Int(timeout)) s")
        }
        while !reader.isFinished { usleep(1000) }
        let text = String(decoding: collected.data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw PostgresServerError(quiet ? "exit \(process.terminationStatus)" : "\(executable) \(arguments) failed: \(text)")
        }
        return text
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresServerError("socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw PostgresServerError("bind failed: errno \(errno)") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw PostgresServerError("getsockname failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Output read on another thread.
final class Collected: @unchecked Sendable {  // `stored` behind `lock`
    private let lock = NSLock()
    private var stored = Data()
    func set(_ data: Data) { lock.withLock { stored = data } }
    var data: Data { lock.withLock { stored } }
}

public struct PostgresServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
