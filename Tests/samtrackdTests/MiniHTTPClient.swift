// MiniHTTPClient: a small blocking HTTP/1.1 client over a loopback TCP socket, for the end-to-end
// tests: one request per connection (Connection: close), chunked and Content-Length bodies, and
// Server-Sent Events read incrementally (so a test can act in the middle of a job). Every read has
// a timeout; nothing here leaves the machine.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct HTTPError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A complete response.
struct HTTPResult {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }

    /// `error.code` of an error body.
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
}

/// One Server-Sent Event.
struct SSEEvent {
    var name: String
    var id: Int?
    var data: String

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:] }
}

struct MiniHTTPClient {
    var host = "127.0.0.1"
    var port: Int
    var token: String?
    var timeout: Double = 60

    /// Sends one request and reads the whole response.
    func request(_ method: String, _ path: String, json: Any? = nil, body: [UInt8]? = nil,
                 headers: [String: String] = [:]) throws -> HTTPResult {
        var payload = body ?? []
        if let json { payload = Array(try JSONSerialization.data(withJSONObject: json)) }
        let connection = try Connection(host: host, port: port, timeout: timeout)
        try connection.send(head(method, path, bodyLength: payload.count, extra: headers) + payload)
        let (status, responseHeaders) = try connection.readHead()
        var reader = BodyReader(connection: connection, headers: responseHeaders)
        var all: [UInt8] = []
        while let chunk = try reader.next() { all += chunk }
        return HTTPResult(status: status, headers: responseHeaders, body: all)
    }

    /// Opens an event stream and calls `onEvent` for each event until it returns false, the
    /// stream ends, or `timeout` passes. Returns the status and every event received.
    @discardableResult
    func events(_ path: String, headers: [String: String] = [:],
                onEvent: (SSEEvent) -> Bool = { _ in true }) throws -> (status: Int, events: [SSEEvent]) {
        let connection = try Connection(host: host, port: port, timeout: timeout)
        try connection.send(head("GET", path, bodyLength: 0, extra: headers.merging(["Accept": "text/event-stream"]) { a, _ in a }))
        let (status, responseHeaders) = try connection.readHead()
        var reader = BodyReader(connection: connection, headers: responseHeaders)
        var events: [SSEEvent] = []
        var pending = ""
        guard status == 200 else { return (status, []) }
        while let chunk = try reader.next() {
            pending += String(decoding: chunk, as: UTF8.self)
            while let range = pending.range(of: "\n\n") {
                let block = String(pending[..<range.lowerBound])
                pending.removeSubrange(..<range.upperBound)
                var event = SSEEvent(name: "message", id: nil, data: "")
                var isComment = true
                for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix(":") { continue }
                    isComment = false
                    if line.hasPrefix("event: ") { event.name = String(line.dropFirst(7)) }
                    if line.hasPrefix("id: ") { event.id = Int(line.dropFirst(4)) }
                    if line.hasPrefix("data: ") { event.data += String(line.dropFirst(6)) }
                }
                if isComment { continue }
                events.append(event)
                if !onEvent(event) { return (status, events) }
            }
        }
        return (status, events)
    }

    private func head(_ method: String, _ path: String, bodyLength: Int, extra: [String: String]) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
        if bodyLength > 0 || method == "POST" {
            // JSON unless the caller names another type (an upload).
            if !extra.keys.contains(where: { $0.lowercased() == "content-type" }) { text += "Content-Type: application/json\r\n" }
            text += "Content-Length: \(bodyLength)\r\n"
        }
        if let token { text += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in extra { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }
}

/// A connected socket with buffered reads.
final class Connection {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    init(host: String, port: Int, timeout: Double) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPError("socket: \(String(cString: strerror(errno)))") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HTTPError("connect to \(host):\(port): \(reason)")
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            // The server may answer (413) and close before reading everything: stop sending then.
            guard n > 0 else { return }
            offset += n
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() throws -> Bool {
        guard !closed else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { throw HTTPError("timed out reading the response") }
            if errno == ECONNRESET { closed = true; return false }
            throw HTTPError("recv: \(String(cString: strerror(errno)))")
        }
        if n == 0 { closed = true; return false }
        buffer += chunk[0..<n]
        return true
    }

    /// A line ending in CRLF (without it), nil at end of stream.
    func readLine() throws -> String? {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                var line = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if line.last == 0x0D { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { return nil }
        }
    }

    /// Exactly `count` bytes (fewer at end of stream).
    func read(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { guard try fill() else { break } }
        let n = min(count, buffer.count)
        let out = Array(buffer[..<n])
        buffer.removeFirst(n)
        return out
    }

    /// Whatever is available (waiting for at least one byte), nil at end of stream.
    func readSome() throws -> [UInt8]? {
        if buffer.isEmpty { guard try fill() else { return nil } }
        let out = buffer
        buffer.removeAll()
        return out
    }

    func readHead() throws -> (Int, [String: String]) {
        guard let statusLine = try readLine() else { throw HTTPError("connection closed before the response") }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw HTTPError("bad status line '\(statusLine)'") }
        var headers: [String: String] = [:]
        while let line = try readLine(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers)
    }
}

/// Reads a body: chunked, Content-Length, or up to the end of the stream.
struct BodyReader {
    let connection: Connection
    let chunked: Bool
    var remaining: Int?
    var done = false

    init(connection: Connection, headers: [String: String]) {
        self.connection = connection
        chunked = headers["transfer-encoding"]?.lowercased().contains("chunked") ?? false
        remaining = chunked ? nil : headers["content-length"].flatMap { Int($0) }
    }

    mutating func next() throws -> [UInt8]? {
        guard !done else { return nil }
        if chunked {
            guard let sizeLine = try connection.readLine() else { done = true; return nil }
            guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw HTTPError("bad chunk size '\(sizeLine)'")
            }
            if size == 0 {
                while let line = try connection.readLine(), !line.isEmpty {}
                done = true
                return nil
            }
            let data = try connection.read(size)
            _ = try connection.readLine()
            return data
        }
        if let left = remaining {
            if left == 0 { done = true; return nil }
            let data = try connection.read(min(left, 65536))
            if data.isEmpty { done = true; return nil }
            remaining = left - data.count
            return data
        }
        guard let data = try connection.readSome() else { done = true; return nil }
        return data
    }
}
