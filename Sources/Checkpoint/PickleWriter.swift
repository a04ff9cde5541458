// PickleWriter: the few pickle opcodes `torch.save` uses for a state dict (protocol 2):
// dicts, strings, small integers, tuples, booleans, globals, REDUCE and persistent ids. Each
// value is written once (no memo), which every unpickler accepts.

import Foundation

/// A value `PickleWriter` can write.
public indirect enum PickleWriterValue: Sendable, Equatable {
    case dict([(String, PickleWriterValue)])
    /// `collections.OrderedDict()` filled with the items (how pickle writes an OrderedDict).
    case orderedDict([(String, PickleWriterValue)])
    case string(String)
    case int(Int)
    case bool(Bool)
    case tuple([PickleWriterValue])
    /// `module.name` called with the tuple `arguments` (GLOBAL + REDUCE).
    case call(module: String, name: String, arguments: [PickleWriterValue])
    /// A persistent id (BINPERSID) made of the tuple `parts`.
    case persistentID([PickleWriterValue])
    /// `module.name` itself (GLOBAL), e.g. a storage type.
    case global(module: String, name: String)

    public static func == (a: PickleWriterValue, b: PickleWriterValue) -> Bool {
        switch (a, b) {
        case let (.dict(x), .dict(y)), let (.orderedDict(x), .orderedDict(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.string(x), .string(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case let (.tuple(x), .tuple(y)): return x == y
        case let (.call(m1, n1, a1), .call(m2, n2, a2)): return m1 == m2 && n1 == n2 && a1 == a2
        case let (.persistentID(x), .persistentID(y)): return x == y
        case let (.global(m1, n1), .global(m2, n2)): return m1 == m2 && n1 == n2
        default: return false
        }
    }
}

public enum PickleWriter {
    /// The pickle (protocol 2) of `value`, ending with STOP.
    public static func encode(_ value: PickleWriterValue) -> [UInt8] {
        var out: [UInt8] = [0x80, 0x02]  // PROTO 2
        write(value, into: &out)
        out.append(0x2E)  // STOP
        return out
    }

    static func write(_ value: PickleWriterValue, into out: inout [UInt8]) {
        switch value {
        case let .dict(items):
            out.append(0x7D)  // EMPTY_DICT
            writeItems(items, into: &out)
        case let .orderedDict(items):
            write(.call(module: "collections", name: "OrderedDict", arguments: []), into: &out)
            writeItems(items, into: &out)
        case let .string(text):
            let bytes = Array(text.utf8)
            out.append(0x58)  // BINUNICODE
            appendLittleEndian(UInt32(bytes.count), into: &out)
            out += bytes
        case let .int(v):
            if v >= 0 && v < 256 {
                out += [0x4B, UInt8(v)]  // BININT1
            } else if v >= 0 && v < 65536 {
                out.append(0x4D)  // BININT2
                appendLittleEndian(UInt16(v), into: &out)
            } else if v >= Int(Int32.min) && v <= Int(Int32.max) {
                out.append(0x4A)  // BININT
                appendLittleEndian(UInt32(bitPattern: Int32(v)), into: &out)
            } else {
                out += [0x8A, 8]  // LONG1, 8 bytes two's complement
                appendLittleEndian(UInt64(bitPattern: Int64(v)), into: &out)
            }
        case let .bool(flag):
            out.append(flag ? 0x88 : 0x89)  // NEWTRUE / NEWFALSE
        case let .tuple(items):
            if items.isEmpty {
                out.append(0x29)  // EMPTY_TUPLE
            } else {
                out.append(0x28)  // MARK
                for item in items { write(item, into: &out) }
                out.append(0x74)  // TUPLE
            }
        case let .call(module, name, arguments):
            write(.global(module: module, name: name), into: &out)
            write(.tuple(arguments), into: &out)
            out.append(0x52)  // REDUCE
        case let .persistentID(parts):
            write(.tuple(parts), into: &out)
            out.append(0x51)  // BINPERSID
        case let .global(module, name):
            out.append(0x63)  // GLOBAL "module\nname\n"
            out += Array("\(module)\n\(name)\n".utf8)
        }
    }

    /// MARK key value ... SETITEMS, in batches of 1000 as pickle writes them.
    static func writeItems(_ items: [(String, PickleWriterValue)], into out: inout [UInt8]) {
        var index = 0
        while index < items.count {
            out.append(0x28)  // MARK
            for (key, item) in items[index..<min(index + 1000, items.count)] {
                write(.string(key), into: &out)
                write(item, into: &out)
            }
            out.append(0x75)  // SETITEMS
            index += 1000
        }
    }

    static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, into out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }
}
