// NPYFile: float32 arrays in NumPy's .npy format (version 1.0), for `--save-logits`.
//
// Layout: the magic "\x93NUMPY", version bytes 1 0, a little-endian UInt16 header length, then
// the header, an ASCII Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (H, W), }
// padded with spaces and ending in "\n" so that magic + version + length + header is a multiple
// of 64 bytes, then the values: little-endian float32, C order (row-major, last axis fastest).
// `numpy.load` reads it as an array of dtype float32 and the given shape.

import FileIO
import Foundation
import Tensor

/// Writes and reads float32 `.npy` files.
public enum NPYFile {
    /// "\x93NUMPY".
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    /// The header for a float32 C-order array of `shape`: magic, version 1.0, length, padded dict.
    public static func header(shape: [Int]) -> [UInt8] {
        let dims: String
        switch shape.count {
        case 0: dims = "()"
        case 1: dims = "(\(shape[0]),)"
        default: dims = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
        var dict = Array("{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }".utf8)
        let unpadded = magic.count + 2 + 2 + dict.count + 1
        dict += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64)
        dict.append(0x0A)
        let length = UInt16(dict.count)
        return magic + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + dict
    }

    /// Writes `tensor` to `path` atomically as float32 `.npy` with the tensor's shape.
    public static func write(_ tensor: Tensor, to path: String, options: AtomicWriteOptions = .init()) throws {
        try write(tensor, shape: tensor.shape, to: path, options: options)
    }

    /// Writes `tensor`'s values with `shape` (same element count; e.g. [H, W] for [1, 1, H, W]).
    public static func write(_ tensor: Tensor, shape: [Int], to path: String,
                             options: AtomicWriteOptions = .init()) throws {
        guard shape.reduce(1, *) == tensor.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw ExportError.invalidArgument("shape \(shape) does not hold the \(tensor.count) values of a \(tensor.shape) tensor")
        }
        let (directory, name) = AtomicFile.split(path)
        try write(tensor, shape: shape, named: name,
                  in: try DirectoryHandle.open(directory.isEmpty ? "." : directory, create: options.createParents), options: options)
    }

    /// Writes `tensor` as the file `name` in `directory` (see `write(_:shape:to:options:)`).
    public static func write(_ tensor: Tensor, shape: [Int], named name: String, in directory: DirectoryHandle,
                             options: AtomicWriteOptions = .init()) throws {
        guard shape.reduce(1, *) == tensor.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw ExportError.invalidArgument("shape \(shape) does not hold the \(tensor.count) values of a \(tensor.shape) tensor")
        }
        try AtomicFile.write(name, in: directory, options: options) { sink in
            try sink.write(header(shape: shape))
            try tensor.withUnsafeBufferPointer { values in
                #if _endian(little)
                try sink.write(UnsafeRawBufferPointer(values))
                #else
                try sink.write(values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } })
                #endif
            }
        }
    }

    /// Reads a float32 `.npy` file (versions 1.0, 2.0 and 3.0; `<f4`, C order).
    /// - Throws: `FileError.readFailed` when the file cannot be read, `ExportError.malformedFile` when it is
    ///   not such an array (other dtypes, Fortran order, truncated data).
    public static func read(_ path: String) throws -> Tensor {
        let bytes = try readFile(path)
        func fail(_ reason: String) -> ExportError { .malformedFile(path: path, reason: reason) }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("no NumPy magic") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw fail("unsupported .npy version \(major).\(bytes[7])")
        }
        guard bytes.count >= headerStart + headerLength else { throw fail("truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field("descr", in: header), descr == "'<f4'" else {
            throw fail("dtype \(field("descr", in: header) ?? "?") is not little-endian float32 ('<f4')")
        }
        guard field("fortran_order", in: header) == "False" else { throw fail("Fortran-order arrays are not supported") }
        guard let shapeText = field("shape", in: header), shapeText.hasPrefix("("), shapeText.hasSuffix(")") else {
            throw fail("no shape in header \(header)")
        }
        let shape = try shapeText.dropFirst().dropLast().split(separator: ",").map { part -> Int in
            guard let value = Int(part.trimmingCharacters(in: .whitespaces)), value >= 0 else {
                throw fail("bad shape \(shapeText)")
            }
            return value
        }
        let count = shape.reduce(1, *)
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == count * 4 else {
            throw fail("shape \(shape) needs \(count * 4) data bytes, the file has \(bytes.count - dataStart)")
        }
        var tensor = Tensor(uninitialized: shape)
        tensor.withUnsafeMutablePointer { out in
            bytes.withUnsafeBytes { raw in
                for i in 0..<count {
                    let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + 4 * i, as: UInt32.self))
                    out[i] = Float(bitPattern: bits)
                }
            }
        }
        return tensor
    }

    /// The text of `'key': value` in a header dict (value up to the next top-level comma or brace).
    private static func field(_ key: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(key)':") else { return nil }
        var depth = 0
        var value = ""
        for character in header[range.upperBound...] {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if depth == 0, character == "," || character == "}" { break }
            value.append(character)
            if depth < 0 { return nil }
        }
        return value.trimmingCharacters(in: .whitespaces)
    }
}

/// Writes `--save-logits` files: DIR/<frame %05d>_<id>.npy, float32 [H, W] low-res logits.
public final class NPYWriter {
    /// DIR.
    public let directory: String
    public let options: AtomicWriteOptions
    private let handle: DirectoryHandle

    /// - Parameter createDirectory: create DIR (and its parents) when missing.
    public init(directory: String, createDirectory: Bool = true, fsync: Bool = false) throws {
        self.directory = directory
        options = AtomicWriteOptions(createParents: false, fsync: fsync)
        handle = try DirectoryHandle.open(directory, create: createDirectory)
    }

    /// Writes one object's logits for `frame`.
    /// - Parameter logits: [H, W], or with leading axes of extent 1 ([1, 1, H, W]); stored as (H, W).
    public func write(frame: Int, id: Int, logits: Tensor) throws {
        let (height, width) = try BinaryMask.planeSize(of: logits)
        try NPYFile.write(logits, shape: [height, width], named: OutputLayout.logitsName(frame: frame, id: id),
                          in: handle, options: options)
    }
}
