// ImageSequence: a directory of JPEG/PNG files (the official SAM 2 layout: one folder of frames
// per video) or a glob pattern (`frames/*.jpg`), resolved into an ordered list of images with
// the frame number each file's name carries.
//
// Order: natural order of the paths (`frame2.jpg` < `frame10.jpg`; runs of digits compare by
// value). Numbers: the last run of digits in each file name without its extension
// (`00017.jpg` -> 17, `cam1_frame_0042.png` -> 42), used only when every image has one and they
// increase strictly along the list; otherwise every number is nil and frames are numbered by
// position. Sizes: every image must have the size of the first (read from the PNG / JPEG
// headers, without decoding); the error names the first file of another size.

import CFFmpeg
import Foundation

/// An ordered list of image files read as the frames of one video.
public struct ImageSequence: Sendable, Equatable, Codable {
    /// One frame's file.
    public struct Image: Sendable, Equatable, Codable {
        public let path: String
        /// The frame number from the file name (see the rules above); nil when the sequence's
        /// names do not number it.
        public let number: Int?
    }

    /// The input as named (the directory or the pattern).
    public let input: String
    /// The images in frame order.
    public let images: [Image]
    /// Every image's size in pixels.
    public let width: Int
    public let height: Int

    /// File extensions taken from a directory (lower-cased; globs take whatever they match).
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Builds a sequence from files in the given order (checked: non-empty, readable, one size).
    /// - Throws: `.fileNotFound` (empty list or a missing file), `.cannotOpen` (unreadable),
    ///   `.notMediaFile` (not an image), `.invalidArgument` (an image of another size),
    ///   `.outsideAllowedDirectories` (with a confinement, a file outside it).
    public init(input: String, paths: [String], confinement: InputConfinement? = nil) throws {
        guard let first = paths.first else {
            throw MediaError.fileNotFound(input: input, reason: "no images")
        }
        if let confinement {
            let roots = confinement.resolvedDirectories
            for path in paths where !Self.isUnder(path, roots: roots) {
                throw MediaError.outsideAllowedDirectories(input: input, url: path)
            }
        }
        let size = try ImageHeader.size(of: first)
        for path in paths.dropFirst() {
            let other = try ImageHeader.size(of: path)
            if other != size {
                throw MediaError.invalidArgument(
                    "the images of '\(input)' differ in size: '\(path)' is \(other.width)x\(other.height), "
                        + "the first image '\(first)' is \(size.width)x\(size.height) (every frame must have the same size)")
            }
        }
        let numbers = paths.map { Self.number(inFileName: $0) }
        var increasing = numbers.allSatisfy { $0 != nil }
        if increasing {
            for i in numbers.indices.dropFirst() where numbers[i]! <= numbers[i - 1]! {
                increasing = false
                break
            }
        }
        self.input = input
        images = zip(paths, numbers).map { Image(path: $0, number: increasing ? $1 : nil) }
        width = size.width
        height = size.height
    }

    /// True when `input` names a directory, or a glob pattern (`*`, `?`, `[`) that is not itself
    /// an existing file: the inputs `resolve` turns into a sequence.
    public static func isSequenceInput(_ input: String) -> Bool {
        guard input != "-", !input.contains("://") else { return false }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) { return isDirectory.boolValue }
        return input.contains(where: { "*?[".contains($0) })
    }

    /// The sequence `input` names: a directory (its JPEG/PNG files, hidden files skipped) or a
    /// glob pattern (the regular files it matches), in natural order; nil when `input` is
    /// neither (a file, an image2 pattern like `%05d.png`, a URL, `-`).
    /// - Throws: `.fileNotFound` for an empty directory or a pattern matching nothing, and the
    ///   errors of `init(input:paths:)`; with a confinement, `.outsideAllowedDirectories` for a
    ///   directory or file outside it (checked before anything is read).
    public static func resolve(_ input: String, confinement: InputConfinement? = nil) throws -> ImageSequence? {
        guard isSequenceInput(input) else { return nil }
        var isDirectory: ObjCBool = false
        let paths: [String]
        if FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory), isDirectory.boolValue {
            if let confinement, !isUnder(input, roots: confinement.resolvedDirectories) {
                throw MediaError.outsideAllowedDirectories(input: input, url: input)
            }
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: input)
            } catch {
                throw MediaError.cannotOpen(input: input, reason: "cannot list the directory: \(error.localizedDescription)")
            }
            let base = input.hasSuffix("/") ? String(input.dropLast()) : input
            paths = names.filter { name in
                !name.hasPrefix(".") && imageExtensions.contains((name as NSString).pathExtension.lowercased())
            }.map { "\(base)/\($0)" }.filter(isRegularFile)
            if paths.isEmpty {
                throw MediaError.fileNotFound(input: input, reason: "the directory holds no JPEG or PNG files (.jpg, .jpeg, .png)")
            }
        } else {
            if let confinement {
                let directory = (input as NSString).deletingLastPathComponent
                if directory.contains(where: { "*?[".contains($0) }) || !isUnder(directory.isEmpty ? "." : directory,
                                                                                 roots: confinement.resolvedDirectories) {
                    throw MediaError.outsideAllowedDirectories(input: input, url: directory)
                }
            }
            paths = try glob(input).filter(isRegularFile)
            if paths.isEmpty { throw MediaError.fileNotFound(input: input, reason: "no file matches the pattern") }
        }
        return try ImageSequence(input: input, paths: paths.sorted(by: naturalOrder), confinement: confinement)
    }

    // MARK: - Names

    /// Natural order: runs of digits compare by value (`frame2` < `frame10`), other characters by
    /// Unicode scalar; equal values with more leading zeros come later; ties by plain order.
    public static func naturalOrder(_ a: String, _ b: String) -> Bool {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        var i = 0, j = 0
        var zeroTieBreak = 0
        func isDigit(_ s: Unicode.Scalar) -> Bool { s >= "0" && s <= "9" }
        while i < x.count && j < y.count {
            if isDigit(x[i]) && isDigit(y[j]) {
                let startI = i, startJ = j
                while i < x.count && isDigit(x[i]) { i += 1 }
                while j < y.count && isDigit(y[j]) { j += 1 }
                var p = startI, q = startJ
                while p < i - 1 && x[p] == "0" { p += 1 }
                while q < j - 1 && y[q] == "0" { q += 1 }
                if i - p != j - q { return i - p < j - q }
                while p < i {
                    if x[p] != y[q] { return x[p].value < y[q].value }
                    p += 1
                    q += 1
                }
                if zeroTieBreak == 0 && (i - startI) != (j - startJ) { zeroTieBreak = (i - startI) < (j - startJ) ? -1 : 1 }
            } else {
                if x[i] != y[j] { return x[i].value < y[j].value }
                i += 1
                j += 1
            }
        }
        if (x.count - i) != (y.count - j) { return x.count - i < y.count - j }
        if zeroTieBreak != 0 { return zeroTieBreak < 0 }
        return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    /// The last run of ASCII digits in the file name without its extension
    /// (`/x/00017.jpg` -> 17, `img_3.png` -> 3, `cover.jpg` -> nil); nil when there is none or
    /// it does not fit an Int.
    public static func number(inFileName path: String) -> Int? {
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        var digits: [Character] = []
        for character in stem.reversed() {
            if character.isASCII && character.isNumber {
                digits.append(character)
            } else if !digits.isEmpty {
                break
            }
        }
        guard !digits.isEmpty else { return nil }
        return Int(String(digits.reversed()))
    }

    // MARK: - Files

    private static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG
    }

    /// True when the realpath of `path` lies under one of `roots` (realpath-resolved).
    static func isUnder(_ path: String, roots: [String]) -> Bool {
        guard let real = realpath(path, nil) else { return false }
        defer { free(real) }
        return roots.contains { samtrack_path_is_under(real, $0) != 0 }
    }

    /// The paths `pattern` matches (glob(3), no sorting, no tilde or brace expansion).
    private static func glob(_ pattern: String) throws -> [String] {
        var matches = glob_t()
        defer { globfree(&matches) }
        let result = Glibc.glob(pattern, GLOB_NOSORT, nil, &matches)
        if result == GLOB_NOMATCH { return [] }
        guard result == 0 else {
            throw MediaError.cannotOpen(input: pattern, reason: "cannot expand the pattern (glob error \(result))")
        }
        return (0..<Int(matches.gl_pathc)).compactMap { matches.gl_pathv[$0].map { String(cString: $0) } }
    }
}

extension InputConfinement {
    /// The allowed directories, realpath-resolved (directories that do not exist are left out).
    var resolvedDirectories: [String] {
        allowedDirectories.compactMap { directory in
            guard let real = realpath(directory, nil) else { return nil }
            defer { free(real) }
            return String(cString: real)
        }
    }
}
