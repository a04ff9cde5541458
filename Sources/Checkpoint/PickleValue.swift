// PickleValue: the values the checkpoint unpickler builds. Only what `torch.save` puts in a
// checkpoint is modelled: Python scalars, strings, containers, the allow-listed globals
// (`PickleGlobal`), and tensor/storage references that point into the zip archive. Tensors are
// references, not data: they become `Tensor`s only after unpickling, when their dotted key is
// known and can be named in errors.

/// A Python value decoded from a checkpoint's pickle stream.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer outside the 64-bit range (little-endian two's complement bytes); kept opaque.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    /// A list (also used for sets and frozensets). A reference, because pickle mutates lists
    /// after memoizing them.
    case list(PickleList)
    /// A dict or OrderedDict, in insertion order. A reference, for the same reason as lists.
    case dict(PickleDict)
    /// A class or function from the allow-list.
    case global(PickleGlobal)
    /// A storage saved as its own zip entry (from a persistent id).
    case storage(TorchStorageReference)
    /// A tensor viewing part of a storage.
    case tensor(TorchTensorReference)

    /// Short type name for error messages.
    var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case let .global(global): return global.qualifiedName
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }

    /// The elements of a tuple or list.
    var sequence: [PickleValue]? {
        switch self {
        case let .tuple(items): return items
        case let .list(list): return list.items
        default: return nil
        }
    }

    /// The value as a Swift Int (for ints and booleans, which Python treats as ints).
    var intValue: Int? {
        switch self {
        case let .int(value): return value
        case let .bool(value): return value ? 1 : 0
        default: return nil
        }
    }
}

/// A mutable Python list.
final class PickleList {
    var items: [PickleValue]
    /// Nesting depth (1 + the deepest item's), kept by the unpickler.
    var depth = 1
    /// True once the list was placed in another container (it may then not grow deeper).
    var isNested = false
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// A mutable Python dict keeping insertion order. Keys that are strings or ints replace earlier
/// equal keys, as Python would; other keys are appended (checkpoints do not use them as names).
final class PickleDict {
    private(set) var entries: [(key: PickleValue, value: PickleValue)] = []
    /// Nesting depth (1 + the deepest key's or value's), kept by the unpickler.
    var depth = 1
    /// True once the dict was placed in another container (it may then not grow deeper).
    var isNested = false
    private var stringIndex: [String: Int] = [:]
    private var intIndex: [Int: Int] = [:]

    func set(_ key: PickleValue, _ value: PickleValue) {
        switch key {
        case let .string(name):
            if let index = stringIndex[name] { entries[index].value = value; return }
            stringIndex[name] = entries.count
        case let .int(number):
            if let index = intIndex[number] { entries[index].value = value; return }
            intIndex[number] = entries.count
        default:
            break
        }
        entries.append((key, value))
    }

    /// The value stored under the string key `name`.
    subscript(name: String) -> PickleValue? {
        stringIndex[name].map { entries[$0].value }
    }
}

/// The element type a storage or tensor declares. `stored` is set for the types this reader
/// converts to Float32; every other type is carried by name so the error can say which it is.
struct TorchElementType: Equatable {
    /// PyTorch's name, e.g. "float32", "int64".
    let name: String
    /// Bytes per element (0 when unknown or sub-byte).
    let size: Int
    /// The convertible layout, or nil for types this reader refuses.
    var stored: StoredDType? {
        switch name {
        case "float32": return .float32
        case "float16": return .float16
        case "bfloat16": return .bfloat16
        default: return nil
        }
    }
}

/// A storage named by a persistent id `('storage', <storage class>, key, location, numel)`; its
/// bytes are the zip entry `<top>/data/<key>`.
struct TorchStorageReference {
    let key: String
    let elementType: TorchElementType
    /// Element count recorded in the pickle.
    let elementCount: Int
    /// Device the storage was saved from ("cpu", "cuda:0"...); informational.
    let location: String
}

/// A tensor as `_rebuild_tensor_v2/_v3` describes it: a strided view of a storage.
/// Offset and strides are in elements of `elementType`.
struct TorchTensorReference {
    let storage: TorchStorageReference
    let elementType: TorchElementType
    let storageOffset: Int
    let shape: [Int]
    let strides: [Int]
}
