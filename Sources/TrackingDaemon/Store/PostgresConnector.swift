// PostgresConnector: the daemon's connections to one PostgreSQL database (PostgresNIO), for code
// that runs on worker threads and calls the store synchronously. Connections run on an event loop
// of their own and are waited for on the calling thread (never on that loop), kept in a
// small pool, and dropped when the server closed them: the next call opens a new one, with a bounded
// backoff, so a restarted server is reconnected to without restarting the daemon.
//
// URL form (`"store": {"postgres": ...}`, `--store`):
//   postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable]
//   postgresql://USER@/DATABASE?host=/run/postgresql   (a Unix socket directory)

import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// Where and as whom to connect (parsed from a postgresql:// URL).
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public var host: String?
    public var socketDirectory: String?
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    /// Parses `postgresql://` (or `postgres://`) URLs; throws `JobStoreError` naming what is wrong.
    public init(url text: String) throws {
        guard let components = URLComponents(string: text),
              let scheme = components.scheme, scheme == "postgresql" || scheme == "postgres" else {
            throw JobStoreError("store URL '\(Self.redacted(text))': expected postgresql://USER@HOST:PORT/DATABASE")
        }
        guard let user = components.user, !user.isEmpty else {
            throw JobStoreError("store URL '\(Self.redacted(text))': no user (postgresql://USER@HOST:PORT/DATABASE)")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw JobStoreError("store URL '\(Self.redacted(text))': no database name (postgresql://USER@HOST:PORT/DATABASE)")
        }
        var socketDirectory: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "host": socketDirectory = item.value
            case "sslmode" where item.value == "disable": break
            default:
                throw JobStoreError("store URL '\(Self.redacted(text))': unsupported parameter '\(item.name)"
                                    + "\(item.value.map { "=\($0)" } ?? "")' (supported: host=/socket/dir, sslmode=disable)")
            }
        }
        let host = components.host.flatMap { $0.isEmpty ? nil : $0 }
        guard host != nil || socketDirectory != nil else {
            throw JobStoreError("store URL '\(Self.redacted(text))': no host (postgresql://USER@HOST:PORT/DATABASE)")
        }
        self.host = host
        self.socketDirectory = socketDirectory
        port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw JobStoreError("store URL '\(Self.redacted(text))': bad port") }
        self.user = user.removingPercentEncoding ?? user
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
    }

    /// The URL without its password (for logs and errors).
    public var description: String {
        if let socketDirectory { return "postgresql://\(user)@:\(port)/\(database)?host=\(socketDirectory)" }
        return "postgresql://\(user)@\(host ?? ""):\(port)/\(database)"
    }

    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? text
    }

    var configuration: PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let socketDirectory {
            let path = (socketDirectory as NSString).appendingPathComponent(".s.PGSQL.\(port)")
            configuration = .init(unixSocketPath: path, username: user, password: password, database: database)
        } else {
            configuration = .init(host: host ?? "127.0.0.1", port: port, username: user, password: password,
                                  database: database, tls: .disable)
        }
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }
}

/// A pool of connections used synchronously (see the file comment). Thread-safe.
final class PostgresConnector: @unchecked Sendable {  // mutable state behind `lock`
    let location: PostgresLocation
    private let logger: Logger
    private let lock = NSLock()
    private var idle: [PostgresConnection] = []
    private var nextID = 1
    private var closed = false
    /// Connections kept open when idle.
    private let keepIdle = 4
    /// The event loops of every job-store connection: their own threads, never the HTTP server's,
    /// so that waiting for a result never blocks the loop that must deliver it.
    static let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    init(location: PostgresLocation) {
        self.location = location
        var logger = Logger(label: "samtrackd.postgres")
        logger.logLevel = .warning
        self.logger = logger
    }

    /// Opens a new connection (waiting at most the connect timeout).
    func connect() throws -> PostgresConnection {
        let id: Int = lock.withLock {
            defer { nextID += 1 }
            return nextID
        }
        let loop = Self.loops.any()
        do {
            return try PostgresConnection.connect(on: loop, configuration: location.configuration, id: id, logger: logger).wait()
        } catch {
            throw JobStoreError("cannot connect to \(location): \(Self.describe(error))")
        }
    }

    /// Runs `body` on a pooled connection. A connection the server closed is dropped; when the
    /// failure was the connection itself and `retries` > 0, the call is made again on a new one
    /// after a short backoff (only for work that is safe to repeat: a transaction that never committed).
    func withConnection<T>(retries: Int = 2, _ body: (PostgresConnection) throws -> T) throws -> T {
        var attempt = 0
        while true {
            let connection: PostgresConnection
            do {
                connection = try checkout()
            } catch {
                if attempt < retries {
                    attempt += 1
                    Thread.sleep(forTimeInterval: 0.2 * Double(attempt * attempt))
                    continue
                }
                throw error
            }
            do {
                let value = try body(connection)
                checkin(connection)
                return value
            } catch {
                if connection.isClosed || Self.isConnectionFailure(error) {
                    _ = try? connection.close().wait()
                    if attempt < retries {
                        attempt += 1
                        Thread.sleep(forTimeInterval: 0.2 * Double(attempt * attempt))
                        continue
                    }
                } else {
                    checkin(connection)
                }
                throw error
            }
        }
    }

    /// Runs `body` inside BEGIN ... COMMIT on one connection; rolls back when it throws.
    func transaction<T>(retries: Int = 2, _ body: (PostgresConnection) throws -> T) throws -> T {
        try withConnection(retries: retries) { connection in
            try run(connection, "BEGIN")
            do {
                let value = try body(connection)
                try run(connection, "COMMIT")
                return value
            } catch {
                if !connection.isClosed { _ = try? connection.query("ROLLBACK", logger: logger).wait() }
                throw error
            }
        }
    }

    /// One statement; returns its rows.
    @discardableResult
    func run(_ connection: PostgresConnection, _ query: PostgresQuery) throws -> PostgresQueryResult {
        do {
            return try connection.query(query, logger: logger).wait()
        } catch {
            throw QueryFailure(error: error, message: Self.describe(error))
        }
    }

    deinit { close() }

    func close() {
        let connections: [PostgresConnection] = lock.withLock {
            closed = true
            defer { idle.removeAll() }
            return idle
        }
        for connection in connections { _ = try? connection.close().wait() }
    }

    private func checkout() throws -> PostgresConnection {
        while let connection = lock.withLock({ idle.popLast() }) {
            if !connection.isClosed { return connection }
        }
        if lock.withLock({ closed }) { throw JobStoreError("the job database connection is closed (the daemon is stopping)") }
        return try connect()
    }

    private func checkin(_ connection: PostgresConnection) {
        let keep: Bool = lock.withLock {
            guard !closed, !connection.isClosed, idle.count < keepIdle else { return false }
            idle.append(connection)
            return true
        }
        if !keep { _ = try? connection.close().wait() }
    }

    /// A statement that failed, with the server's message (PSQLError's own description hides it).
    struct QueryFailure: Error, CustomStringConvertible {
        var error: Error
        var message: String
        var description: String { message }
        /// The SQLSTATE code the server sent, if any.
        var sqlState: String? { (error as? PSQLError)?.serverInfo?[.sqlState] }
    }

    static func isConnectionFailure(_ error: Error) -> Bool {
        let underlying = (error as? QueryFailure)?.error ?? error
        guard let psql = underlying as? PSQLError else { return underlying is ChannelError || underlying is IOError }
        switch psql.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown: return true
        case .server:
            // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions.
            let state = psql.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("57P") || state.hasPrefix("08")
        default: return false
        }
    }

    /// A readable message: the server's message and code, or the client-side failure.
    static func describe(_ error: Error) -> String {
        if let failure = error as? QueryFailure { return failure.message }
        guard let psql = error as? PSQLError else { return "\(error)" }
        if let info = psql.serverInfo, let message = info[.message] {
            return "\(message) (SQLSTATE \(info[.sqlState] ?? "?"))"
        }
        if let underlying = psql.underlying { return "\(psql.code): \(underlying)" }
        return "\(psql.code)"
    }
}
