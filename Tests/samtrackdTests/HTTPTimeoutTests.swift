// Issue 23, finding 9: slow and idle clients held the daemon's sockets (0 of 52 closed; idle
// sockets open 150 s). The server closes a connection whose request head does not arrive within
// http.header_timeout_s, whose body stalls past http.body_timeout_s, or that sits idle after a
// response past http.idle_timeout_s; at most http.max_connections are served at once.

import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

final class HTTPTimeoutTests: XCTestCase {
    /// Reads until the peer closes (true) or `seconds` pass (false).
    private func closedByPeer(_ connection: Connection, within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var byte: UInt8 = 0
        while Date() < deadline {
            var poller = pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 100) > 0 {
                let n = recv(connection.fd, &byte, 1, 0)
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { return true }
            }
        }
        return false
    }

    func testSlowAndIdleConnectionsAreClosed() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("samtrackd-timeouts-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let data = scratch + "/data"
        let config = try DaemonProcess.writeConfig(dataDirectory: data, http: [
            "header_timeout_s": 1, "body_timeout_s": 1, "idle_timeout_s": 2, "max_connections": 4,
        ])
        let daemon = try DaemonProcess(dataDirectory: data, config: config)
        defer { _ = daemon.terminate() }

        // Connected, sends nothing.
        let silent = try Connection(host: "127.0.0.1", port: daemon.port, timeout: 10)
        XCTAssertTrue(closedByPeer(silent, within: 8), "a silent connection was not closed")

        // Sends its request line and headers one byte every 0.4 s (slowloris): never completes.
        let slow = try Connection(host: "127.0.0.1", port: daemon.port, timeout: 10)
        let head = Array("GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Pad: ".utf8)
        var closed = false
        let start = Date()
        for byte in head + Array(repeating: UInt8(ascii: "a"), count: 100) {
            try slow.send([byte])
            if closedByPeer(slow, within: 0.4) { closed = true; break }
        }
        XCTAssertTrue(closed, "a slowly sent head was not cut off")
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)

        // A body that stalls after its first bytes.
        let stalled = try Connection(host: "127.0.0.1", port: daemon.port, timeout: 10)
        try stalled.send(Array("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"so".utf8))
        XCTAssertTrue(closedByPeer(stalled, within: 8), "a stalled body was not cut off")

        // Keep-alive after a complete request: idle for longer than idle_timeout_s.
        let idle = try Connection(host: "127.0.0.1", port: daemon.port, timeout: 10)
        try idle.send(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let (status, _) = try idle.readHead()
        XCTAssertEqual(status, 200)
        XCTAssertTrue(closedByPeer(idle, within: 10), "an idle keep-alive connection was not closed")

        // The daemon serves normally afterwards.
        XCTAssertEqual(try daemon.client.request("GET", "/healthz").status, 200)
    }
}
