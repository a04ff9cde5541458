// Unpickler: a small pickle virtual machine for the `data.pkl` stream of a PyTorch checkpoint.
//
// torch.save writes protocol 2 by default; protocols 3 to 5 add framing, short strings, bytes,
// sets and memoize, which are accepted too. The machine never runs code: globals are looked up
// in the allow-list (`PickleGlobal`) and calling one builds a `PickleValue`. Persistent ids
// `('storage', <storage class>, key, location, numel)` become storage references.
// Any other opcode, global or persistent id is a `CheckpointError.unsupportedPickle` naming it;
// a stream that ends early or is inconsistent is `CheckpointError.corrupt`.
//
// Nesting is bounded: every value on the stack and in the memo carries its nesting depth (lists
// and dicts keep theirs in the object, as pickle mutates them), a container deeper than
// `maximumNesting` is refused, and a list or dict that already sits inside another container may
// not grow deeper (that is how recursive structures are built, which checkpoints never hold).
// So no value is ever cyclic or deeper than the bound, and releasing one cannot exhaust the
// stack, whatever the stream.

/// Why a pickle operation failed, before the unpickler adds the file and byte position.
enum PickleFailure: Error {
    case unsupported(String)
    case malformed(String)
}

/// Decodes one pickle stream into a `PickleValue`.
struct Unpickler {
    /// File named in errors.
    let path: String
    /// Name of the stream inside the file (e.g. "sam2.1_hiera_tiny/data.pkl"), for errors.
    let streamName: String

    /// Deepest nesting of containers accepted (checkpoints nest a few levels).
    static let maximumNesting = 100

    private var cursor: ByteCursor
    private var stack: [PickleValue] = []
    /// Nesting depth of each stack value (0 for scalars; lists and dicts: see `depth(of:_:)`).
    private var depths: [Int] = []
    /// Deepest of the values the last `pop`/`popMark` returned.
    private var poppedDepth = 0
    private var marks: [Int] = []
    private var memo: [Int: (value: PickleValue, depth: Int)] = [:]
    /// Offset of the opcode being executed.
    private var opcodeOffset = 0

    init(bytes: UnsafeRawBufferPointer, path: String, streamName: String) {
        self.path = path
        self.streamName = streamName
        cursor = ByteCursor(bytes)
    }

    /// Runs the stream to its STOP opcode and returns the value it built.
    static func load(_ bytes: UnsafeRawBufferPointer, path: String, streamName: String) throws -> PickleValue {
        var machine = Unpickler(bytes: bytes, path: path, streamName: streamName)
        return try machine.run()
    }

    private mutating func run() throws -> PickleValue {
        while true {
            opcodeOffset = cursor.position
            guard let opcode = cursor.u8() else {
                throw corrupt("the pickle ends without a STOP opcode (truncated?)")
            }
            do {
                if opcode == 0x2E {  // STOP
                    guard stack.count == 1, marks.isEmpty else {
                        throw PickleFailure.malformed("STOP with \(stack.count) values on the stack")
                    }
                    return stack[0]
                }
                try execute(opcode)
            } catch let failure as PickleFailure {
                switch failure {
                case let .unsupported(reason):
                    throw CheckpointError.unsupportedPickle(path: path, reason: "\(reason) at byte \(opcodeOffset) of \(streamName)")
                case let .malformed(reason):
                    throw corrupt(reason)
                }
            }
        }
    }

    private func corrupt(_ reason: String) -> CheckpointError {
        .corrupt(path: path, reason: "\(reason) at byte \(opcodeOffset) of \(streamName)")
    }

    // MARK: - Opcodes

    private mutating func execute(_ opcode: UInt8) throws {
        switch opcode {
        case 0x80: _ = try required(cursor.u8())                       // PROTO
        case 0x95: _ = try required(cursor.u64())                      // FRAME (length only)
        case 0x7D: try push(.dict(PickleDict()), depth: 1)         // EMPTY_DICT
        case 0x5D: try push(.list(PickleList()), depth: 1)         // EMPTY_LIST
        case 0x29: try push(.tuple([]), depth: 1)                  // EMPTY_TUPLE
        case 0x8F: try push(.list(PickleList()), depth: 1)         // EMPTY_SET
        case 0x28: marks.append(stack.count)                       // MARK
        case 0x4E: try push(.none)                                 // NONE
        case 0x88: try push(.bool(true))                           // NEWTRUE
        case 0x89: try push(.bool(false))                          // NEWFALSE
        case 0x4B: try push(.int(Int(try required(cursor.u8()))))      // BININT1
        case 0x4D: try push(.int(Int(try required(cursor.u16()))))     // BININT2
        case 0x4A: try push(.int(Int(try required(cursor.i32()))))     // BININT
        case 0x8A: try pushLong(length: Int(try required(cursor.u8())))           // LONG1
        case 0x8B: try pushLong(length: Int(try required(cursor.i32())))          // LONG4
        case 0x47: try push(.float(try required(cursor.bigEndianDouble())))       // BINFLOAT
        case 0x8C: try pushString(length: Int(try required(cursor.u8())))         // SHORT_BINUNICODE
        case 0x58: try pushString(length: Int(try required(cursor.u32())))        // BINUNICODE
        case 0x8D: try pushString(length: try length64())                     // BINUNICODE8
        case 0x55: try pushString(length: Int(try required(cursor.u8())))         // SHORT_BINSTRING
        case 0x54: try pushString(length: Int(try required(cursor.i32())))        // BINSTRING
        case 0x43: try pushBytes(length: Int(try required(cursor.u8())))          // SHORT_BINBYTES
        case 0x42: try pushBytes(length: Int(try required(cursor.u32())))         // BINBYTES
        case 0x8E: try pushBytes(length: try length64())                      // BINBYTES8
        case 0x74: try pushContainer(.tuple(try popMark()))        // TUPLE
        case 0x85: try pushContainer(.tuple(try pop(1)))           // TUPLE1
        case 0x86: try pushContainer(.tuple(try pop(2)))           // TUPLE2
        case 0x87: try pushContainer(.tuple(try pop(3)))           // TUPLE3
        case 0x6C: try pushContainer(.list(PickleList(try popMark())))  // LIST
        case 0x91: try pushContainer(.list(PickleList(try popMark())))  // FROZENSET
        case 0x61: try append(try pop(1))                          // APPEND
        case 0x65, 0x90: try append(try popMark())                 // APPENDS, ADDITEMS
        case 0x64:                                                 // DICT
            let dict = PickleDict()
            try setItems(try popMark(), into: dict)
            try pushContainer(.dict(dict))
        case 0x73: try setItemsIntoTop(try pop(2))                 // SETITEM
        case 0x75: try setItemsIntoTop(try popMark())              // SETITEMS
        case 0x71: try put(Int(try required(cursor.u8())))             // BINPUT
        case 0x72: try put(Int(try required(cursor.u32())))            // LONG_BINPUT
        case 0x94: try put(memo.count)                             // MEMOIZE
        case 0x68: try get(Int(try required(cursor.u8())))             // BINGET
        case 0x6A: try get(Int(try required(cursor.u32())))            // LONG_BINGET
        case 0x63:                                                 // GLOBAL
            let module = try required(cursor.line()).utf8String
            let name = try required(cursor.line()).utf8String
            try push(.global(try resolve(module: module, name: name)))
        case 0x93:                                                 // STACK_GLOBAL
            let pair = try pop(2)
            guard let module = pair[0].stringValue, let name = pair[1].stringValue else {
                throw PickleFailure.malformed("STACK_GLOBAL needs two strings")
            }
            try push(.global(try resolve(module: module, name: name)))
        case 0x52:                                                 // REDUCE
            let popped = try pop(2)
            guard let arguments = popped[1].sequence else {
                throw PickleFailure.malformed("REDUCE arguments are a \(popped[1].typeName), not a tuple")
            }
            try pushContainer(try call(popped[0], arguments))
        case 0x81:                                                 // NEWOBJ
            let popped = try pop(2)
            try pushContainer(try call(popped[0], popped[1].sequence ?? []))
        case 0x62:                                                 // BUILD: object state ignored
            _ = try pop(1)
            guard stack.count > (marks.last ?? 0) else { throw PickleFailure.malformed("BUILD without an object") }
        case 0x51: try push(try persistentLoad(try pop(1)[0]))     // BINPERSID
        case 0x30:                                                 // POP
            if let mark = marks.last, mark == stack.count { marks.removeLast() } else { _ = try pop(1) }
        case 0x31: _ = try popMark()                               // POP_MARK
        case 0x32:                                                 // DUP
            guard let top = stack.last, let depth = depths.last else { throw PickleFailure.malformed("DUP on an empty stack") }
            try push(top, depth: depth)
        default:
            throw PickleFailure.unsupported("opcode \(Self.describe(opcode))")
        }
    }

    // MARK: - Stack helpers

    private func read<T>(_ value: T?) throws -> T {
        guard let value else { throw PickleFailure.malformed("the pickle ends inside an opcode's argument (truncated?)") }
        return value
    }

    private mutating func length64() throws -> Int {
        let wide = try required(cursor.u64())
        guard let length = Int(exactly: wide) else { throw PickleFailure.malformed("length \(wide) is too large") }
        return length
    }

    /// Pushes `value` whose nesting depth is `depth`; refuses values nested too deeply.
    private mutating func push(_ value: PickleValue, depth: Int = 0) throws {
        guard depth <= Self.maximumNesting else {
            throw PickleFailure.malformed("containers nested deeper than \(Self.maximumNesting) levels")
        }
        stack.append(value)
        depths.append(depth)
    }

    /// Pushes a container built from the values just popped: one level deeper than they are.
    /// A list or dict records its depth in the object.
    private mutating func pushContainer(_ value: PickleValue) throws {
        let depth = poppedDepth + 1
        switch value {
        case let .list(list): list.depth = max(list.depth, depth)
        case let .dict(dict): dict.depth = max(dict.depth, depth)
        default: break
        }
        try push(value, depth: depth)
    }

    /// The current depth of `value` recorded as `recorded` (lists and dicts may have grown since).
    private func depth(of value: PickleValue, _ recorded: Int) -> Int {
        switch value {
        case let .list(list): return max(recorded, list.depth)
        case let .dict(dict): return max(recorded, dict.depth)
        default: return recorded
        }
    }

    /// Removes the values from `start` on, records their deepest depth in `poppedDepth` and marks
    /// lists and dicts among them as nested (they are about to go into a container or a call).
    private mutating func removeValues(from start: Int) -> [PickleValue] {
        let items = Array(stack[start...])
        poppedDepth = 0
        for (item, recorded) in zip(items, depths[start...]) {
            poppedDepth = max(poppedDepth, depth(of: item, recorded))
            switch item {
            case let .list(list): list.isNested = true
            case let .dict(dict): dict.isNested = true
            default: break
            }
        }
        stack.removeSubrange(start...)
        depths.removeSubrange(start...)
        return items
    }

    private mutating func pop(_ count: Int) throws -> [PickleValue] {
        let floor = marks.last ?? 0
        guard stack.count - count >= floor else {
            throw PickleFailure.malformed("stack underflow")
        }
        return removeValues(from: stack.count - count)
    }

    private mutating func popMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw PickleFailure.malformed("no MARK to pop to") }
        return removeValues(from: mark)
    }

    /// Makes the list or dict on top of the stack `poppedDepth + 1` deep if it is shallower;
    /// refuses when that container already sits inside another one (a recursive structure).
    private mutating func deepenTop() throws {
        let needed = poppedDepth + 1
        guard let top = stack.last else { return }
        let current = depth(of: top, depths[depths.count - 1])
        guard needed > current else { return }
        let nested: Bool
        switch top {
        case let .list(list): nested = list.isNested; if !nested { list.depth = needed }
        case let .dict(dict): nested = dict.isNested; if !nested { dict.depth = needed }
        default: nested = false
        }
        guard !nested else {
            throw PickleFailure.unsupported("a list or dict is filled after it was placed in another container (a recursive structure)")
        }
        guard needed <= Self.maximumNesting else {
            throw PickleFailure.malformed("containers nested deeper than \(Self.maximumNesting) levels")
        }
        depths[depths.count - 1] = needed
    }

    private func setItems(_ items: [PickleValue], into dict: PickleDict) throws {
        guard items.count % 2 == 0 else { throw PickleFailure.malformed("odd number of dict items") }
        for index in stride(from: 0, to: items.count, by: 2) {
            dict.set(items[index], items[index + 1])
        }
    }

    /// SETITEM(S): `items` (just popped) into the dict on top of the stack.
    private mutating func setItemsIntoTop(_ items: [PickleValue]) throws {
        guard case let .dict(dict)? = stack.last, stack.count > (marks.last ?? 0) else {
            throw PickleFailure.malformed("SETITEM(S) without a dict on the stack")
        }
        try deepenTop()
        try setItems(items, into: dict)
    }

    private mutating func append(_ items: [PickleValue]) throws {
        guard case let .list(list)? = stack.last, stack.count > (marks.last ?? 0) else {
            throw PickleFailure.malformed("APPEND(S) without a list on the stack")
        }
        try deepenTop()
        list.items.append(contentsOf: items)
    }

    private mutating func put(_ index: Int) throws {
        guard let top = stack.last, let depth = depths.last else { throw PickleFailure.malformed("memo store from an empty stack") }
        memo[index] = (top, depth)
    }

    private mutating func get(_ index: Int) throws {
        guard let entry = memo[index] else { throw PickleFailure.malformed("memo entry \(index) was never stored") }
        try push(entry.value, depth: depth(of: entry.value, entry.depth))
    }

    private mutating func pushString(length: Int) throws {
        guard let bytes = cursor.bytes(length) else {
            throw PickleFailure.malformed("a string of \(length) bytes runs past the end of the pickle (truncated?)")
        }
        try push(.string(bytes.utf8String))
    }

    private mutating func pushBytes(length: Int) throws {
        guard let bytes = cursor.bytes(length) else {
            throw PickleFailure.malformed("a bytes value of \(length) bytes runs past the end of the pickle (truncated?)")
        }
        try push(.bytes(Array(bytes)))
    }

    /// LONG1/LONG4: little-endian two's complement of `length` bytes.
    private mutating func pushLong(length: Int) throws {
        guard let bytes = cursor.bytes(length) else {
            throw PickleFailure.malformed("an integer of \(length) bytes runs past the end of the pickle (truncated?)")
        }
        guard length <= 8 else { try push(.bigInt(Array(bytes))); return }
        var value: UInt64 = 0
        for (shift, byte) in bytes.enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
        if length > 0, length < 8, bytes[length - 1] & 0x80 != 0 {
            value |= ~0 << (8 * UInt64(length))  // sign-extend
        }
        try push(.int(Int(Int64(bitPattern: value))))
    }

    // MARK: - Globals, calls and persistent ids

    private func resolve(module: String, name: String) throws -> PickleGlobal {
        guard let global = PickleGlobal(module: module, name: name) else {
            throw PickleFailure.unsupported("global '\(module).\(name)' is not allowed in a weights checkpoint (only tensors, dicts and plain values are read)")
        }
        return global
    }

    private func call(_ callable: PickleValue, _ arguments: [PickleValue]) throws -> PickleValue {
        guard case let .global(global) = callable else {
            throw PickleFailure.malformed("call of a \(callable.typeName), which is not a class or function")
        }
        return try global.call(arguments)
    }

    /// `('storage', <storage class>, key, location, numel)` -> a storage reference.
    private func persistentLoad(_ id: PickleValue) throws -> PickleValue {
        guard let fields = id.sequence, fields.first?.stringValue == "storage" else {
            throw PickleFailure.unsupported("persistent id of kind \(id.sequence?.first?.typeName ?? id.typeName) (only 'storage' ids are known)")
        }
        guard fields.count == 5, case let .global(.storageClass(_, type)) = fields[1],
              let key = fields[2].stringValue, let location = fields[3].stringValue,
              let count = fields[4].intValue else {
            throw PickleFailure.malformed("storage persistent id is not ('storage', class, key, location, numel)")
        }
        return .storage(TorchStorageReference(key: key, elementType: type, elementCount: count, location: location))
    }

    /// "NAME (0xNN)" for an opcode.
    static func describe(_ opcode: UInt8) -> String {
        let hex = "0x" + (opcode < 16 ? "0" : "") + String(opcode, radix: 16)
        let names: [UInt8: String] = [
            0x69: "INST", 0x6F: "OBJ", 0x50: "PERSID", 0x49: "INT", 0x4C: "LONG", 0x53: "STRING",
            0x56: "UNICODE", 0x46: "FLOAT", 0x70: "PUT", 0x67: "GET", 0x82: "EXT1", 0x83: "EXT2",
            0x84: "EXT4", 0x92: "NEWOBJ_EX", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
            0x98: "READONLY_BUFFER",
        ]
        return names[opcode].map { "\($0) (\(hex))" } ?? "\(hex) (unknown)"
    }
}

/// `value`, or a "truncated" failure when a read ran past the end of the stream.
private func required<T>(_ value: T?) throws -> T {
    guard let value else { throw PickleFailure.malformed("the pickle ends inside an opcode's argument (truncated?)") }
    return value
}
