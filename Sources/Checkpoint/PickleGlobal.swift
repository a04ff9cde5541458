// PickleGlobal: the allow-list of Python classes and functions a checkpoint may name, and what
// calling each of them (REDUCE / NEWOBJ) builds. Like `torch.load(weights_only=True)`, nothing
// outside this list is accepted: an unknown global is an error naming it, never executed code.
//
// Tensor rebuild functions and their arguments (PyTorch `torch/_utils.py`):
//   _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
//   _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
//   _rebuild_parameter(data, requires_grad, backward_hooks)
//   _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state)
//   torch._tensor._rebuild_from_type_v2(func, type, args, state)

/// A Python global the checkpoint unpickler accepts.
enum PickleGlobal: Equatable {
    case orderedDict
    case set
    case frozenset
    case codecsEncode
    case rebuildTensorV2
    case rebuildTensorV3
    case rebuildParameter
    case rebuildParameterWithState
    case rebuildFromTypeV2
    /// `torch.Tensor` or `torch.nn.parameter.Parameter` (the type argument of `_rebuild_from_type_v2`).
    case tensorClass(String)
    /// A storage class such as `torch.FloatStorage`, with the element type it holds.
    case storageClass(name: String, elementType: TorchElementType)
    /// A dtype such as `torch.float8_e4m3fn` (argument of `_rebuild_tensor_v3`).
    case dtype(TorchElementType)

    /// Resolves `module.name`, or returns nil when it is not on the allow-list.
    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("builtins", "set"), ("__builtin__", "set"): self = .set
        case ("builtins", "frozenset"), ("__builtin__", "frozenset"): self = .frozenset
        case ("_codecs", "encode"): self = .codecsEncode
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor_v3"): self = .rebuildTensorV3
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch._tensor", "_rebuild_from_type_v2"): self = .rebuildFromTypeV2
        case ("torch", "Tensor"), ("torch.nn.parameter", "Parameter"): self = .tensorClass("\(module).\(name)")
        case ("torch", _):
            if let type = Self.storageClasses[name] {
                self = .storageClass(name: name, elementType: type)
            } else if let type = Self.dtypes[name] {
                self = .dtype(type)
            } else {
                return nil
            }
        default:
            return nil
        }
    }

    /// `module.name` as Python spells it.
    var qualifiedName: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case .set: return "builtins.set"
        case .frozenset: return "builtins.frozenset"
        case .codecsEncode: return "_codecs.encode"
        case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
        case .rebuildTensorV3: return "torch._utils._rebuild_tensor_v3"
        case .rebuildParameter: return "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: return "torch._utils._rebuild_parameter_with_state"
        case .rebuildFromTypeV2: return "torch._tensor._rebuild_from_type_v2"
        case let .tensorClass(name): return name
        case let .storageClass(name, _): return "torch.\(name)"
        case let .dtype(type): return "torch.\(type.name)"
        }
    }

    /// Legacy typed-storage classes (what torch.save names in persistent ids) and their types.
    static let storageClasses: [String: TorchElementType] = [
        "FloatStorage": .init(name: "float32", size: 4),
        "HalfStorage": .init(name: "float16", size: 2),
        "BFloat16Storage": .init(name: "bfloat16", size: 2),
        "DoubleStorage": .init(name: "float64", size: 8),
        "LongStorage": .init(name: "int64", size: 8),
        "IntStorage": .init(name: "int32", size: 4),
        "ShortStorage": .init(name: "int16", size: 2),
        "CharStorage": .init(name: "int8", size: 1),
        "ByteStorage": .init(name: "uint8", size: 1),
        "BoolStorage": .init(name: "bool", size: 1),
        "ComplexFloatStorage": .init(name: "complex64", size: 8),
        "ComplexDoubleStorage": .init(name: "complex128", size: 16),
        "QInt8Storage": .init(name: "qint8", size: 1),
        "QInt32Storage": .init(name: "qint32", size: 4),
        "QUInt8Storage": .init(name: "quint8", size: 1),
        "QUInt4x2Storage": .init(name: "quint4x2", size: 1),
        "QUInt2x4Storage": .init(name: "quint2x4", size: 1),
        "UntypedStorage": .init(name: "uint8", size: 1),
    ]

    /// Dtype globals `_rebuild_tensor_v3` may name (the dtypes without a legacy storage class,
    /// plus the common ones), by canonical name.
    static let dtypes: [String: TorchElementType] = {
        let sizes: [(String, Int)] = [
            ("float32", 4), ("float16", 2), ("bfloat16", 2), ("float64", 8), ("int64", 8),
            ("int32", 4), ("int16", 2), ("int8", 1), ("uint8", 1), ("bool", 1),
            ("complex32", 4), ("complex64", 8), ("complex128", 16), ("uint16", 2),
            ("uint32", 4), ("uint64", 8), ("float8_e5m2", 1), ("float8_e4m3fn", 1),
            ("float8_e5m2fnuz", 1), ("float8_e4m3fnuz", 1), ("float8_e8m0fnu", 1),
            ("float4_e2m1fn_x2", 1), ("bits8", 1), ("bits16", 2), ("bits1x8", 1),
            ("bits2x4", 1), ("bits4x2", 1), ("bcomplex32", 4),
        ]
        var table: [String: TorchElementType] = [:]
        for (name, size) in sizes { table[name] = TorchElementType(name: name, size: size) }
        return table
    }()
}

// MARK: - Calling a global

extension PickleGlobal {
    /// What `REDUCE` (or `NEWOBJ`) with this global as callable and `arguments` builds.
    /// Throws `PickleFailure` for a global that cannot be called or for arguments of the
    /// wrong form.
    func call(_ arguments: [PickleValue]) throws -> PickleValue {
        switch self {
        case .orderedDict:
            let dict = PickleDict()
            if let pairs = arguments.first?.sequence {
                for pair in pairs {
                    guard let items = pair.sequence, items.count == 2 else {
                        throw PickleFailure.malformed("OrderedDict built from a non-pair \(pair.typeName)")
                    }
                    dict.set(items[0], items[1])
                }
            }
            return .dict(dict)
        case .set, .frozenset:
            return .list(PickleList(arguments.first?.sequence ?? []))
        case .codecsEncode:
            guard case let .string(text)? = arguments.first else {
                throw PickleFailure.malformed("_codecs.encode needs a str")
            }
            let encoding = arguments.count > 1 ? (arguments[1].stringValue ?? "") : "utf-8"
            if encoding == "latin1" || encoding == "latin-1" {
                return .bytes(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
            }
            return .bytes(Array(text.utf8))
        case .rebuildTensorV2:
            guard arguments.count == 6 || arguments.count == 7 else {
                throw PickleFailure.malformed("_rebuild_tensor_v2 takes 6 or 7 arguments, got \(arguments.count)")
            }
            return try Self.tensor(arguments, dtype: nil)
        case .rebuildTensorV3:
            guard arguments.count == 7 || arguments.count == 8 else {
                throw PickleFailure.malformed("_rebuild_tensor_v3 takes 7 or 8 arguments, got \(arguments.count)")
            }
            guard case let .global(.dtype(type)) = arguments[6] else {
                throw PickleFailure.malformed("_rebuild_tensor_v3 needs a dtype, got \(arguments[6].typeName)")
            }
            return try Self.tensor(arguments, dtype: type)
        case .rebuildParameter, .rebuildParameterWithState:
            let expected = self == .rebuildParameter ? 3 : 4
            guard arguments.count == expected, case .tensor = arguments[0] else {
                throw PickleFailure.malformed("\(qualifiedName) needs \(expected) arguments starting with a tensor")
            }
            return arguments[0]
        case .rebuildFromTypeV2:
            guard arguments.count == 4, case let .global(function) = arguments[0],
                  case .global(.tensorClass) = arguments[1], let inner = arguments[2].sequence else {
                throw PickleFailure.malformed("_rebuild_from_type_v2 needs (function, tensor class, arguments, state)")
            }
            return try function.call(inner)
        case .tensorClass, .storageClass, .dtype:
            throw PickleFailure.unsupported("cannot construct \(qualifiedName) from pickled arguments")
        }
    }

    /// A tensor reference from `(storage, storage_offset, size, stride, ...)`.
    private static func tensor(_ arguments: [PickleValue], dtype: TorchElementType?) throws -> PickleValue {
        guard case let .storage(storage) = arguments[0] else {
            throw PickleFailure.malformed("tensor rebuilt from a \(arguments[0].typeName) instead of a storage")
        }
        guard let offset = arguments[1].intValue,
              let shape = arguments[2].sequence?.compactMap(\.intValue), shape.count == arguments[2].sequence?.count,
              let strides = arguments[3].sequence?.compactMap(\.intValue), strides.count == arguments[3].sequence?.count,
              shape.count == strides.count else {
            throw PickleFailure.malformed("tensor with malformed offset, size or stride")
        }
        return .tensor(TorchTensorReference(storage: storage, elementType: dtype ?? storage.elementType,
                                            storageOffset: offset, shape: shape, strides: strides))
    }
}

extension PickleValue {
    /// The string of a `str` value.
    var stringValue: String? {
        if case let .string(text) = self { return text }
        return nil
    }
}
