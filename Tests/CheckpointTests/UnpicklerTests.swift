// UnpicklerTests: the pickle machine on hand-written opcode streams — values, memo and mutation
// semantics, integer encodings, and the errors for unknown opcodes, globals and short input.

import XCTest
@testable import Checkpoint

final class UnpicklerTests: XCTestCase {
    private let path = "/tmp/model.pt"

    private func load(_ bytes: [UInt8]) throws -> PickleValue {
        try bytes.withUnsafeBytes { try Unpickler.load($0, path: path, streamName: "model/data.pkl") }
    }

    private func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }

    func testDictOfScalars() throws {
        // {'a': 1, 'b': -2, 'c': 300, 'd': 1.5, 'e': True, 'f': None, 'g': 'é'}
        var bytes: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0x00, 0x28]
        bytes += [0x58, 1, 0, 0, 0] + ascii("a") + [0x4B, 1]
        bytes += [0x58, 1, 0, 0, 0] + ascii("b") + [0x4A, 0xFE, 0xFF, 0xFF, 0xFF]
        bytes += [0x58, 1, 0, 0, 0] + ascii("c") + [0x4D, 0x2C, 0x01]
        bytes += [0x58, 1, 0, 0, 0] + ascii("d") + [0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0]
        bytes += [0x58, 1, 0, 0, 0] + ascii("e") + [0x88]
        bytes += [0x58, 1, 0, 0, 0] + ascii("f") + [0x4E]
        bytes += [0x8C, 1] + ascii("g") + [0x8C, 2, 0xC3, 0xA9]
        bytes += [0x75, 0x2E]
        guard case let .dict(dict) = try load(bytes) else { return XCTFail("not a dict") }
        XCTAssertEqual(dict["a"]?.intValue, 1)
        XCTAssertEqual(dict["b"]?.intValue, -2)
        XCTAssertEqual(dict["c"]?.intValue, 300)
        guard case let .float(d)? = dict["d"] else { return XCTFail("d") }
        XCTAssertEqual(d, 1.5)
        guard case .bool(true)? = dict["e"], case .none? = dict["f"] else { return XCTFail("e, f") }
        XCTAssertEqual(dict["g"]?.stringValue, "é")
    }

    func testLongEncodings() throws {
        func long(_ payload: [UInt8]) throws -> PickleValue {
            try load([0x80, 0x02, 0x8A, UInt8(payload.count)] + payload + [0x2E])
        }
        XCTAssertEqual(try long([]).intValue, 0)
        XCTAssertEqual(try long([0xFF]).intValue, -1)
        XCTAssertEqual(try long([0x00, 0x80]).intValue, -32768)
        XCTAssertEqual(try long([0x14, 0x1A, 0x99, 0xBE, 0x1C]).intValue, 123_456_789_012)
        XCTAssertEqual(try long([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]).intValue, Int.max)
        guard case .bigInt = try long([0, 0, 0, 0, 0, 0, 0, 0, 0x40]) else { return XCTFail("2**70 should stay opaque") }
    }

    func testMemoizedListSeesLaterAppends() throws {
        // l = []; memo[0] = l; l += [1, 2]; (l, memo[0])
        let bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x28, 0x4B, 1, 0x4B, 2, 0x65, 0x68, 0x00, 0x86, 0x2E]
        guard case let .tuple(items) = try load(bytes), items.count == 2,
              case let .list(first) = items[0], case let .list(second) = items[1] else { return XCTFail("shape") }
        XCTAssertTrue(first === second)
        XCTAssertEqual(second.items.compactMap(\.intValue), [1, 2])
    }

    func testProtocol4FramingAndMemoize() throws {
        // PROTO 4, FRAME, ']' MEMOIZE, BINGET 0, TUPLE2, STOP
        let bytes: [UInt8] = [0x80, 0x04, 0x95, 5, 0, 0, 0, 0, 0, 0, 0, 0x5D, 0x94, 0x68, 0x00, 0x86, 0x2E]
        guard case let .tuple(items) = try load(bytes), items.count == 2 else { return XCTFail("shape") }
    }

    func testAllowedGlobalAndOrderedDict() throws {
        let bytes: [UInt8] = [0x80, 0x02, 0x63] + ascii("collections\nOrderedDict\n") + [0x29, 0x52, 0x2E]
        guard case .dict = try load(bytes) else { return XCTFail("OrderedDict() should build a dict") }
    }

    func testUnknownGlobalIsNamed() {
        let bytes: [UInt8] = [0x80, 0x02, 0x63] + ascii("os\nsystem\n") + [0x2E]
        XCTAssertThrowsError(try load(bytes)) { error in
            guard case let .unsupportedPickle(errorPath, reason)? = error as? CheckpointError else {
                return XCTFail("got \(error)")
            }
            XCTAssertEqual(errorPath, path)
            XCTAssertTrue(reason.contains("os.system"), reason)
            XCTAssertTrue(reason.contains("model/data.pkl"), reason)
        }
    }

    func testUnknownOpcodeIsNamed() {
        for (opcode, name) in [(UInt8(0xFF), "0xff"), (0x69, "INST"), (0x92, "NEWOBJ_EX")] {
            XCTAssertThrowsError(try load([0x80, 0x02, opcode, 0x2E])) { error in
                guard case let .unsupportedPickle(_, reason)? = error as? CheckpointError else {
                    return XCTFail("got \(error)")
                }
                XCTAssertTrue(reason.contains(name), reason)
                XCTAssertTrue(reason.contains("byte 2"), reason)
            }
        }
    }

    func testShortAndInconsistentStreamsAreCorrupt() {
        let streams: [[UInt8]] = [
            [],                                   // nothing
            [0x80, 0x02, 0x7D],                   // no STOP
            [0x80, 0x02, 0x58, 9, 0, 0, 0, 0x61], // string longer than the stream
            [0x80, 0x02, 0x4A, 0x01],             // BININT cut short
            [0x80, 0x02, 0x68, 0x05, 0x2E],       // memo entry never stored
            [0x80, 0x02, 0x73, 0x2E],             // SETITEM on an empty stack
            [0x80, 0x02, 0x4B, 1, 0x4B, 2, 0x2E], // two values at STOP
            [0x80, 0x02, 0x4B, 1, 0x29, 0x52, 0x2E], // calling an int
        ]
        for stream in streams {
            XCTAssertThrowsError(try load(stream), "\(stream)") { error in
                guard case .corrupt? = error as? CheckpointError else { return XCTFail("\(stream): got \(error)") }
            }
        }
    }

    func testStoragePersistentIdAndTensorRebuild() throws {
        // _rebuild_tensor_v2(('storage', FloatStorage, '7', 'cpu', 6), 1, (2, 2), (1, 2), False, OrderedDict())
        var bytes: [UInt8] = [0x80, 0x02, 0x63] + ascii("torch._utils\n_rebuild_tensor_v2\n") + [0x28, 0x28]
        bytes += [0x8C, 7] + ascii("storage") + [0x63] + ascii("torch\nFloatStorage\n")
        bytes += [0x8C, 1] + ascii("7") + [0x8C, 3] + ascii("cpu") + [0x4B, 6, 0x74, 0x51]
        bytes += [0x4B, 1, 0x4B, 2, 0x4B, 2, 0x86, 0x4B, 1, 0x4B, 2, 0x86, 0x89]
        bytes += [0x63] + ascii("collections\nOrderedDict\n") + [0x29, 0x52, 0x74, 0x52, 0x2E]
        guard case let .tensor(tensor) = try load(bytes) else { return XCTFail("not a tensor") }
        XCTAssertEqual(tensor.storage.key, "7")
        XCTAssertEqual(tensor.storage.elementCount, 6)
        XCTAssertEqual(tensor.elementType.name, "float32")
        XCTAssertEqual(tensor.storageOffset, 1)
        XCTAssertEqual(tensor.shape, [2, 2])
        XCTAssertEqual(tensor.strides, [1, 2])
    }

    func testNonStoragePersistentIdIsRefused() {
        let bytes: [UInt8] = [0x80, 0x02, 0x8C, 4] + ascii("blob") + [0x85, 0x51, 0x2E]
        XCTAssertThrowsError(try load(bytes)) { error in
            guard case .unsupportedPickle? = error as? CheckpointError else { return XCTFail("got \(error)") }
        }
    }
}
