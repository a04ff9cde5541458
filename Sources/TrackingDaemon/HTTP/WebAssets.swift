// WebAssets: the browser app's static files (Sources/Web/, DESIGN §7.3) as HTTP responses — the one
// owner of which paths under `/` map to which file, their content types and caching headers.
//
//   GET /                  index.html
//   GET /js/editor.js      Sources/Web/js/editor.js (any file under the root with a known extension)
//
// Rules: a path is a list of components of letters, digits, '.', '_' and '-', none starting with
// '.' (so no '..', no hidden files, no percent escapes), no trailing '/' but for `/` itself; the extension must be in `contentTypes`;
// the file's real path (symbolic links resolved) must stay under the root; files larger than
// `maxFileBytes` are not served. Anything else is "not mine" (nil): the API answers 404 JSON.
// Caching: `Cache-Control: no-cache` with a strong ETag (CRC-32 and length of the bytes), so a
// browser revalidates every load and gets 304 when nothing changed — no stale app after an upgrade,
// and no versioned names to maintain. A Content-Security-Policy allows nothing but this origin, so
// the app cannot make an external request even by mistake.

import FileIO
import Foundation

/// Serves the files under one directory.
public struct WebAssets: Sendable {
    /// The directory (real path) holding index.html.
    public let root: String
    public static let maxFileBytes = 8 << 20

    /// Content types by extension (lower case).
    static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8",
        "js": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml",
        "png": "image/png",
        "ico": "image/x-icon",
        "json": "application/json",
        "txt": "text/plain; charset=utf-8",
    ]

    static let securityPolicy = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
        + "script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

    /// - Throws: `ConfigFileError` when `root` has no index.html.
    public init(root: String) throws {
        guard let real = PathPolicy.realPath(root), PathPolicy.isDirectory(real),
              FileManager.default.isReadableFile(atPath: (real as NSString).appendingPathComponent("index.html")) else {
            throw ConfigFileError("the web app folder '\(root)' has no index.html")
        }
        self.root = real
    }

    /// The file a request path names, or nil when the path is not a servable file under the root.
    public func file(for path: String) -> (path: String, contentType: String)? {
        guard path == "/" || !path.hasSuffix("/") else { return nil }
        let components = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let names = components.isEmpty ? ["index.html"] : components
        guard names.count <= 8, names.allSatisfy(Self.isSafeComponent) else { return nil }
        let ext = (names.last! as NSString).pathExtension.lowercased()
        guard let type = Self.contentTypes[ext] else { return nil }
        let candidate = names.reduce(root) { ($0 as NSString).appendingPathComponent($1) }
        guard let real = PathPolicy.realPath(candidate), PathPolicy.isInside(real, root: root), !PathPolicy.isDirectory(real) else { return nil }
        return (real, type)
    }

    /// The response for GET or HEAD of `path`, nil when the path is not one of the app's files.
    /// `ifNoneMatch` is the request's If-None-Match header (304 when it names the current ETag).
    public func response(method: String, path: String, ifNoneMatch: String?) -> APIResponse? {
        guard let file = file(for: path),
              let attributes = try? FileManager.default.attributesOfItem(atPath: file.path),
              let size = attributes[.size] as? Int, size <= Self.maxFileBytes,
              let data = FileManager.default.contents(atPath: file.path) else { return nil }
        let bytes = [UInt8](data)
        let crc = bytes.withUnsafeBytes { CRC32.checksum($0) }
        let etag = "\"\(String(crc, radix: 16))-\(bytes.count)\""
        let headers = ["Content-Type": file.contentType, "Cache-Control": "no-cache", "ETag": etag,
                       "X-Content-Type-Options": "nosniff", "Content-Security-Policy": Self.securityPolicy,
                       "Referrer-Policy": "no-referrer"]
        if let ifNoneMatch, ifNoneMatch.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag }) {
            return APIResponse(status: 304, headers: headers.filter { $0.key != "Content-Type" }, body: .bytes([]))
        }
        return APIResponse(status: 200, headers: headers, body: .bytes(method == "HEAD" ? [] : bytes))
    }

    static func isSafeComponent(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 128 && !name.hasPrefix(".")
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
    }
}
