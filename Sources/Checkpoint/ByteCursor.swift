// ByteCursor: bounds-checked sequential reads of little-endian integers and byte runs from a
// borrowed buffer (a slice of a memory-mapped file). Every read returns nil instead of reading
// past the end, so that parsers of untrusted files turn short input into errors, never crashes.

/// A read position in a borrowed byte buffer. Reads are little-endian and unaligned-safe; a read
/// that would pass the end returns nil and leaves the position unchanged.
struct ByteCursor {
    /// The bytes being read (borrowed; valid while its owner, usually a `MappedFile`, lives).
    let buffer: UnsafeRawBufferPointer
    /// Offset of the next byte to read.
    private(set) var position: Int

    init(_ buffer: UnsafeRawBufferPointer, position: Int = 0) {
        self.buffer = buffer
        self.position = max(0, min(position, buffer.count))
    }

    /// Bytes left after `position`.
    var remaining: Int { buffer.count - position }

    /// True when every byte has been read.
    var isAtEnd: Bool { position >= buffer.count }

    /// The next `count` bytes, or nil when fewer remain (or `count` is negative).
    mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, count <= remaining else { return nil }
        let start = position
        position += count
        guard count > 0, let base = buffer.baseAddress else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return UnsafeRawBufferPointer(start: base + start, count: count)
    }

    /// Skips `count` bytes; false (position unchanged) when fewer remain.
    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, count <= remaining else { return false }
        position += count
        return true
    }

    mutating func u8() -> UInt8? {
        guard remaining >= 1 else { return nil }
        defer { position += 1 }
        return buffer[position]
    }

    mutating func u16() -> UInt16? { load(UInt16.self).map { UInt16(littleEndian: $0) } }
    mutating func u32() -> UInt32? { load(UInt32.self).map { UInt32(littleEndian: $0) } }
    mutating func u64() -> UInt64? { load(UInt64.self).map { UInt64(littleEndian: $0) } }

    /// A signed 32-bit little-endian integer.
    mutating func i32() -> Int32? { u32().map { Int32(bitPattern: $0) } }

    /// A 64-bit big-endian IEEE double (pickle's BINFLOAT layout).
    mutating func bigEndianDouble() -> Double? {
        load(UInt64.self).map { Double(bitPattern: UInt64(bigEndian: $0)) }
    }

    /// The bytes up to the next newline (excluded); the newline is consumed. Nil when there is no
    /// newline before the end.
    mutating func line() -> UnsafeRawBufferPointer? {
        var end = position
        while end < buffer.count, buffer[end] != 0x0A { end += 1 }
        guard end < buffer.count else { return nil }
        let line = bytes(end - position)
        position += 1
        return line
    }

    private mutating func load<T: FixedWidthInteger>(_: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard remaining >= size, let base = buffer.baseAddress else { return nil }
        defer { position += size }
        return base.loadUnaligned(fromByteOffset: position, as: T.self)
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes decoded as UTF-8 (invalid sequences become U+FFFD).
    var utf8String: String { String(decoding: self, as: UTF8.self) }
}
