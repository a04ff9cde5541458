// WebAssetsTests: the web app's static files as the API serves them — content types, the caching
// headers (no-cache + ETag, 304 on a match), HEAD, and every way out of the folder refused (dot
// segments, hidden files, percent escapes, symbolic links, unknown extensions); served without the
// bearer token while the API keeps requiring it; the repository's app (Sources/Web) complete:
// every file index.html and the modules refer to exists and is served.

import Foundation
import XCTest
import TestSupport
import TrackingRun
@testable import TrackingDaemon

final class WebAssetsTests: XCTestCase {
    private func makeSite(_ dir: TemporaryDirectory) throws -> WebAssets {
        let site = dir.file("site")
        try FileManager.default.createDirectory(atPath: site + "/js", withIntermediateDirectories: true)
        try "<!doctype html><p>app</p>".write(toFile: site + "/index.html", atomically: true, encoding: .utf8)
        try "export const x = 1;\n".write(toFile: site + "/js/a.js", atomically: true, encoding: .utf8)
        try "body {}".write(toFile: site + "/style.css", atomically: true, encoding: .utf8)
        try "secret".write(toFile: site + "/.hidden.txt", atomically: true, encoding: .utf8)
        try "binary".write(toFile: site + "/tool.exe", atomically: true, encoding: .utf8)
        try "outside".write(toFile: dir.file("outside.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: site + "/escape.txt", withDestinationPath: dir.file("outside.txt"))
        return try WebAssets(root: site)
    }

    func testServesFilesWithTypesAndRevalidationHeaders() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let web = try makeSite(dir)
        let index = try XCTUnwrap(web.response(method: "GET", path: "/", ifNoneMatch: nil))
        XCTAssertEqual(index.status, 200)
        XCTAssertEqual(index.headers["Content-Type"], "text/html; charset=utf-8")
        XCTAssertEqual(index.headers["Cache-Control"], "no-cache")
        XCTAssertEqual(index.headers["X-Content-Type-Options"], "nosniff")
        XCTAssertTrue(index.headers["Content-Security-Policy"]?.contains("default-src 'self'") ?? false)
        guard case let .bytes(body) = index.body else { return XCTFail("a stream") }
        XCTAssertEqual(String(decoding: body, as: UTF8.self), "<!doctype html><p>app</p>")
        XCTAssertEqual(web.response(method: "GET", path: "/index.html", ifNoneMatch: nil)?.headers["ETag"], index.headers["ETag"])
        XCTAssertEqual(web.response(method: "GET", path: "/js/a.js", ifNoneMatch: nil)?.headers["Content-Type"],
                       "text/javascript; charset=utf-8")
        XCTAssertEqual(web.response(method: "GET", path: "/style.css", ifNoneMatch: nil)?.headers["Content-Type"], "text/css; charset=utf-8")

        let etag = try XCTUnwrap(index.headers["ETag"])
        XCTAssertEqual(web.response(method: "GET", path: "/", ifNoneMatch: etag)?.status, 304)
        XCTAssertEqual(web.response(method: "GET", path: "/", ifNoneMatch: "\"other\", \(etag)")?.status, 304)
        XCTAssertEqual(web.response(method: "GET", path: "/", ifNoneMatch: "\"other\"")?.status, 200)
        // A changed file gets a new ETag, so a browser that revalidates sees the new app.
        try "<!doctype html><p>app 2</p>".write(toFile: web.root + "/index.html", atomically: true, encoding: .utf8)
        XCTAssertNotEqual(web.response(method: "GET", path: "/", ifNoneMatch: nil)?.headers["ETag"], etag)
        XCTAssertEqual(web.response(method: "GET", path: "/", ifNoneMatch: etag)?.status, 200)

        let head = try XCTUnwrap(web.response(method: "HEAD", path: "/js/a.js", ifNoneMatch: nil))
        guard case let .bytes(headBody) = head.body else { return XCTFail("a stream") }
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(headBody.isEmpty)
    }

    func testRefusesEveryPathOutOfTheFolder() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let web = try makeSite(dir)
        for path in ["/../outside.txt", "/js/../../outside.txt", "/js/..", "/%2e%2e/outside.txt", "/.hidden.txt",
                     "/escape.txt", "/tool.exe", "/js", "/missing.js", "/js/a.js/", "//etc/passwd", "/js\\a.js", "/a b.js"] {
            XCTAssertNil(web.response(method: "GET", path: path, ifNoneMatch: nil), path)
        }
        XCTAssertThrowsError(try WebAssets(root: dir.file("missing")))
        XCTAssertThrowsError(try WebAssets(root: dir.file("site/js")), "a folder without index.html")
    }

    /// Through the API: static files without the token, the API still behind it; other methods 405.
    func testTheHandlerServesTheAppWithoutTheTokenAndTheAPIWithIt() async throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let web = try makeSite(dir)
        let harness = try ServiceHarness(token: "secret-token-1", start: false)
        defer { harness.directory.cleanUp() }
        let handler = APIHandler(manager: harness.manager, web: web)
        let page = await handler.handle(APIRequest(method: "GET", target: "/"))
        XCTAssertEqual(page.status, 200)
        let anonymous = await handler.handle(APIRequest(method: "GET", target: "/v1/jobs"))
        XCTAssertEqual(anonymous.status, 401)
        let authorised = await handler.handle(APIRequest(method: "GET", target: "/v1/jobs", headers: ["Authorization": "Bearer secret-token-1"]))
        XCTAssertEqual(authorised.status, 200)
        let post = await handler.handle(APIRequest(method: "POST", target: "/index.html"))
        XCTAssertEqual(post.status, 405)
        let missing = await handler.handle(APIRequest(method: "GET", target: "/../outside.txt"))
        XCTAssertEqual(missing.status, 404)
        let missingBody = await missing.collectedBody()
        XCTAssertTrue(String(decoding: missingBody, as: UTF8.self).contains("not_found"))
        // Without a web folder, / is an unknown route as before.
        let withoutApp = await harness.handler.handle(APIRequest(method: "GET", target: "/", headers: ["Authorization": "Bearer secret-token-1"]))
        XCTAssertEqual(withoutApp.status, 404)
    }

    /// The repository's app: found by the bundled-file rule, and every file that index.html, the
    /// style sheet and the modules name (src, href, import ... from) is served with its type.
    func testTheRepositoryAppIsCompleteAndServed() throws {
        let folder = try XCTUnwrap(BundledFile.webApp.find(environment: [:]), BundledFile.webApp.notFoundMessage(environment: [:]))
        let web = try WebAssets(root: folder)
        var pending = ["/index.html"], seen = Set<String>()
        while let path = pending.popLast() {
            guard seen.insert(path).inserted else { continue }
            let response = try XCTUnwrap(web.response(method: "GET", path: path, ifNoneMatch: nil), "\(path) is not served")
            guard case let .bytes(bytes) = response.body else { return XCTFail("a stream") }
            let text = String(decoding: bytes, as: UTF8.self)
            let base = (path as NSString).deletingLastPathComponent
            let patterns = [##"(?:src|href)="([^"#:]+)""##, #"from '(\./[^']+)'"#, #"import '(\./[^']+)'"#]
            for pattern in patterns {
                let regex = try NSRegularExpression(pattern: pattern)
                for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    let reference = String(text[Range(match.range(at: 1), in: text)!])
                    let resolved = URL(fileURLWithPath: (base as NSString).appendingPathComponent(reference)).standardized.path
                    pending.append(resolved)
                }
            }
            let requestable = text.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")  // a name, not a request
            XCTAssertFalse(requestable.contains("http://") || requestable.contains("https://"), "\(path) names an external address")
        }
        XCTAssertTrue(seen.isSuperset(of: ["/index.html", "/style.css", "/js/app.js", "/js/api.js", "/js/rle.js", "/js/draw.js",
                                           "/js/editor.js", "/js/media.js", "/js/jobs.js", "/js/ui.js"]), "\(seen.sorted())")
        let html = try String(contentsOfFile: folder + "/index.html", encoding: .utf8)
        for hook in ["media-upload", "frame-canvas", "frame-slider", "frame-number", "object-add", "object-list", "track-forward",
                     "track-backward", "track-both", "track-cancel", "progress", "export-jsonl", "export-coco", "export-png",
                     "export-palette", "error", "jobs-list"] {
            XCTAssertTrue(html.contains("data-testid=\"\(hook)\""), "DESIGN §7.3's hook \(hook) is missing from index.html")
        }
    }
}
