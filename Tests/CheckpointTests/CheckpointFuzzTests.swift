// CheckpointFuzzTests (issue 23, fuzz target for the checkpoint reader): a seeded, time-boxed
// mutation fuzzer over real checkpoint files, run with the normal suite. Every mutated input must
// load or throw a CheckpointError; a trap (overflow, out-of-bounds, stack overflow) kills the
// test process, which is the failure. Mutations: bit flips, "interesting" integers written over
// 1/2/4/8 bytes, insertions, deletions, duplicated chunks and cuts of whole files; the same on
// zip entries with their CRC-32 fixed up afterwards (so that damage gets past the checksum into
// the pickle machine and the tensor builder); mutated pickles fed to the reader directly, with
// splices from other checkpoints' pickles; and safetensors headers rewritten token by token with
// their length field kept consistent. The longer libFuzzer run is in Tools/fuzz/.
//
// Budget: `SAMTRACK_FUZZ_SECONDS` (default 4) per test, at least `minimumIterations` inputs;
// the seed is fixed (`SAMTRACK_FUZZ_SEED` to explore others), so a failure reproduces.

import Foundation
import XCTest
import FileIO
import Tensor
import TestSupport
@testable import Checkpoint

final class CheckpointFuzzTests: XCTestCase {
    private let minimumIterations = 300
    private var budget: TimeInterval {
        ProcessInfo.processInfo.environment["SAMTRACK_FUZZ_SECONDS"].flatMap(Double.init) ?? 4
    }
    private var seed: UInt64 {
        ProcessInfo.processInfo.environment["SAMTRACK_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5A17_2300
    }

    private static let zipFixtures = ["official.pt", "noncontiguous.pt", "halfprecision.pt", "nested.pt", "parameters.pt",
                                      "module_state_dict.pt", "zip64_unaligned.pt", "protocol4.pt"]
    private static let safetensorsFixtures = ["official.safetensors", "halfprecision.safetensors"]

    /// Loads `bytes` as a checkpoint file; only a CheckpointError may come out. Touches every
    /// tensor's last element (borrowed ones point into the "file").
    private func load(_ bytes: [UInt8], _ what: @autoclosure () -> String) -> Bool {
        let file = MappedFile(name: "fuzz-input", bytes: bytes)
        do {
            let store = try CheckpointLoader.load(file: file)
            for tensor in store.tensors.values { _ = tensor.withUnsafeBufferPointer { $0.last } }
            return true
        } catch let error as CheckpointError {
            XCTAssertEqual(error.path, "fuzz-input", what())
            return false
        } catch {
            XCTFail("\(what()): not a CheckpointError: \(error)")
            return false
        }
    }

    /// Runs `body` with a fresh generator until the budget is spent (and at least the minimum).
    private func fuzz(_ body: (inout SeededGenerator, Int) throws -> Void) rethrows -> Int {
        var rng = SeededGenerator(seed: seed)
        let deadline = Date().addingTimeInterval(budget)
        var iteration = 0
        while iteration < minimumIterations || Date() < deadline {
            try body(&rng, iteration)
            iteration += 1
        }
        return iteration
    }

    // MARK: - Whole files

    func testMutatedFilesNeverTrap() throws {
        let files = try (Self.zipFixtures + Self.safetensorsFixtures).map { try fileBytes(checkpointFixture($0)) }
        var loaded = 0
        let runs = fuzz { rng, iteration in
            let index = iteration % files.count
            var bytes = files[index]
            Mutator.mutate(&bytes, in: 0..<bytes.count, rounds: Int.random(in: 1...4, using: &rng), using: &rng)
            if load(bytes, "file \(index), iteration \(iteration)") { loaded += 1 }
        }
        print("CheckpointFuzzTests: \(runs) mutated files, \(loaded) loaded")
    }

    // MARK: - Zip entries past their checksum

    func testMutatedEntriesWithFixedChecksumsNeverTrap() throws {
        let files = try Self.zipFixtures.map { name -> (bytes: [UInt8], entries: [EntryLocation]) in
            let bytes = try fileBytes(checkpointFixture(name))
            return (bytes, try EntryLocation.all(in: bytes, name: name))
        }
        var loaded = 0
        let runs = fuzz { rng, iteration in
            let (original, entries) = files[iteration % files.count]
            // The pickle most of the time: that is where structure lives.
            let candidates = entries.filter { !$0.data.isEmpty }
            let pickles = candidates.filter { $0.name.hasSuffix("data.pkl") }
            let entry = Int.random(in: 0..<4, using: &rng) > 0 && !pickles.isEmpty
                ? pickles[Int.random(in: 0..<pickles.count, using: &rng)]
                : candidates[Int.random(in: 0..<candidates.count, using: &rng)]
            var bytes = original
            Mutator.mutateInPlace(&bytes, in: entry.data, rounds: Int.random(in: 1...3, using: &rng), using: &rng)
            entry.fixChecksum(&bytes)
            if load(bytes, "\(entry.name), iteration \(iteration)") { loaded += 1 }
        }
        print("CheckpointFuzzTests: \(runs) entries mutated past their CRC, \(loaded) loaded")
    }

    // MARK: - Pickles straight into the reader

    func testMutatedPicklesNeverTrap() throws {
        var sources: [(archive: ZipArchive, prefix: String, pickle: [UInt8], name: String)] = []
        for name in Self.zipFixtures {
            let archive = try ZipArchive(file: MappedFile(path: checkpointFixture(name)))
            let entry = try TorchCheckpointReader.findPickle(in: archive)
            sources.append((archive, String(entry.name.dropLast("data.pkl".count)), Array(try archive.contents(of: entry)), entry.name))
        }
        var loaded = 0
        let runs = fuzz { rng, iteration in
            let source = sources[iteration % sources.count]
            var pickle = source.pickle
            if Int.random(in: 0..<4, using: &rng) == 0 {
                // Splice a piece of another checkpoint's pickle in.
                let other = sources[Int.random(in: 0..<sources.count, using: &rng)].pickle
                let from = Int.random(in: 0..<other.count, using: &rng)
                let piece = other[from..<min(other.count, from + Int.random(in: 1...64, using: &rng))]
                pickle.insert(contentsOf: piece, at: Int.random(in: 0...pickle.count, using: &rng))
            }
            Mutator.mutate(&pickle, in: 0..<pickle.count, rounds: Int.random(in: 1...4, using: &rng), using: &rng)
            do {
                let store = try pickle.withUnsafeBytes {
                    try TorchCheckpointReader.load(pickle: $0, streamName: source.name, archive: source.archive, prefix: source.prefix)
                }
                for tensor in store.tensors.values { _ = tensor.withUnsafeBufferPointer { $0.last } }
                loaded += 1
            } catch is CheckpointError {
            } catch {
                XCTFail("iteration \(iteration): not a CheckpointError: \(error)")
            }
        }
        print("CheckpointFuzzTests: \(runs) pickles, \(loaded) loaded")
    }

    // MARK: - Safetensors headers, token by token

    func testRewrittenSafetensorsHeadersNeverTrap() throws {
        let files = try Self.safetensorsFixtures.map { try fileBytes(checkpointFixture($0)) }
        let replacements = ["-1", "0", "1", "4294967296", "9223372036854775807", "-9223372036854775808",
                            "18446744073709551615", "1e308", "2.5", "null", "true", "\"F32\"", "\"BF16\"", "\"I64\"",
                            "[]", "[0]", "[0, 0]", "{}", "[1, -1]", "[9223372036854775807, 2]", "\"\"", "\"__metadata__\""]
        var loaded = 0
        let runs = fuzz { rng, iteration in
            let original = files[iteration % files.count]
            let headerLength = Int(original.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
            var header = Array(original[8..<(8 + headerLength)])
            let data = Array(original[(8 + headerLength)...])
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                // Replace a token (a number, a string, a bracket) with another.
                let tokens = Mutator.jsonTokens(header)
                guard !tokens.isEmpty else { break }
                let token = tokens[Int.random(in: 0..<tokens.count, using: &rng)]
                let replacement = Int.random(in: 0..<3, using: &rng) == 0
                    ? Array(header[tokens[Int.random(in: 0..<tokens.count, using: &rng)]])
                    : Array(replacements[Int.random(in: 0..<replacements.count, using: &rng)].utf8)
                header.replaceSubrange(token, with: replacement)
            }
            var bytes = [UInt8]()
            withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes += header
            bytes += data
            if Int.random(in: 0..<4, using: &rng) == 0 {
                Mutator.mutate(&bytes, in: 0..<bytes.count, rounds: 1, using: &rng)
            }
            if load(bytes, "safetensors iteration \(iteration): \(String(decoding: header, as: UTF8.self))") { loaded += 1 }
        }
        print("CheckpointFuzzTests: \(runs) safetensors headers, \(loaded) loaded")
    }

    // MARK: - Regressions found by fuzzing or by reading the code

    /// A pickle of `count` nested 1-tuples (1 byte each): before nesting was bounded, releasing
    /// the value recursed once per level and overflowed the stack.
    func testDeeplyNestedPickleIsRefused() throws {
        let archive = try ZipArchive(file: MappedFile(path: checkpointFixture("official.pt")))
        let pickle: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2E]
        XCTAssertThrowsError(try pickle.withUnsafeBytes {
            try TorchCheckpointReader.load(pickle: $0, streamName: "deep/data.pkl", archive: archive, prefix: "official/")
        }) { error in
            XCTAssertTrue("\(error)".contains("nested deeper than"), "\(error)")
        }
    }

    /// {"model": x} where x = (y, y), y = (z, z)... 60 levels: 2^60 paths through a 300-byte pickle.
    func testExponentiallySharedPickleIsRefused() throws {
        let archive = try ZipArchive(file: MappedFile(path: checkpointFixture("official.pt")))
        var pickle: [UInt8] = [0x80, 0x02, 0x7D, 0x8C, 0x05] + Array("model".utf8) + [0x7D, 0x8C, 0x01, 0x61, 0x29]
        for _ in 0..<60 { pickle += [0x71, 0x00, 0x68, 0x00, 0x86] }  // BINPUT 0, BINGET 0, TUPLE2
        pickle += [0x73, 0x73, 0x2E]                                   // SETITEM, SETITEM, STOP
        XCTAssertThrowsError(try pickle.withUnsafeBytes {
            try TorchCheckpointReader.load(pickle: $0, streamName: "bomb/data.pkl", archive: archive, prefix: "official/")
        }) { error in
            XCTAssertTrue("\(error)".contains("expands to more than"), "\(error)")
        }
    }

    /// A list appended to itself (a cycle) is refused instead of leaking.
    func testRecursiveListIsRefused() {
        let pickle: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E]  // [] memo; get; APPEND
        XCTAssertThrowsError(try pickle.withUnsafeBytes { try Unpickler.load($0, path: "p", streamName: "s") }) { error in
            XCTAssertTrue("\(error)".contains("recursive structure"), "\(error)")
        }
    }
}

/// Where one zip entry's data and its central-directory CRC field are in a file.
struct EntryLocation {
    let name: String
    let data: Range<Int>
    /// Offset of the CRC-32 field in the entry's central directory header.
    let crcField: Int

    /// Writes the CRC-32 of the entry's (mutated) data into its central header.
    func fixChecksum(_ bytes: inout [UInt8]) {
        let crc = bytes[data].withUnsafeBytes { CRC32.checksum($0) }
        for i in 0..<4 { bytes[crcField + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
    }

    /// Every entry of the zip file `bytes`, found by walking its central directory.
    static func all(in bytes: [UInt8], name: String) throws -> [EntryLocation] {
        let archive = try ZipArchive(file: MappedFile(name: name, bytes: bytes))
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        var crcFields: [String: Int] = [:]
        var offset = 0
        // Central headers start with PK 01 02; find them by signature and check the name.
        while offset + 46 <= bytes.count {
            if u32(offset) == 0x0201_4B50 {
                let nameLength = u16(offset + 28)
                if offset + 46 + nameLength <= bytes.count {
                    let entryName = String(decoding: bytes[(offset + 46)..<(offset + 46 + nameLength)], as: UTF8.self)
                    crcFields[entryName] = offset + 16
                }
            }
            offset += 1
        }
        return archive.entries.compactMap { entry in
            crcFields[entry.name].map { EntryLocation(name: entry.name, data: entry.dataRange, crcField: $0) }
        }
    }
}

/// Byte-level mutations.
enum Mutator {
    static let interesting: [UInt64] = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000,
                                        0xFFFF_FFFF, 0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000,
                                        0xFFFF_FFFF_FFFF_FFFF, 0x4000_0000, 1 << 28, 1 << 40]

    /// Mutations that keep the length (bit flips, bytes, integers, chunk copies) inside `range`.
    static func mutateInPlace(_ bytes: inout [UInt8], in range: Range<Int>, rounds: Int, using rng: inout SeededGenerator) {
        guard !range.isEmpty else { return }
        for _ in 0..<rounds {
            let at = Int.random(in: range, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:
                bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1:
                bytes[at] = UInt8(truncatingIfNeeded: interesting[Int.random(in: 0..<interesting.count, using: &rng)])
            case 2:
                let width = [2, 4, 8][Int.random(in: 0..<3, using: &rng)]
                var value = interesting[Int.random(in: 0..<interesting.count, using: &rng)]
                if Bool.random(using: &rng) { value = value &+ UInt64.random(in: 0...3, using: &rng) &- 1 }
                for i in 0..<width where at + i < range.upperBound {
                    bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))
                }
            default:
                let length = Int.random(in: 1...16, using: &rng)
                let from = Int.random(in: range, using: &rng)
                for i in 0..<length where at + i < range.upperBound && from + i < range.upperBound {
                    bytes[at + i] = bytes[from + i]
                }
            }
        }
    }

    /// Any mutation, including insertions, deletions and cuts (the length may change).
    static func mutate(_ bytes: inout [UInt8], in range: Range<Int>, rounds: Int, using rng: inout SeededGenerator) {
        for _ in 0..<rounds {
            let upper = min(range.upperBound, bytes.count)
            guard upper > range.lowerBound else {
                bytes.append(UInt8.random(in: 0...255, using: &rng))
                continue
            }
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<6:
                mutateInPlace(&bytes, in: range.lowerBound..<upper, rounds: 1, using: &rng)
            case 6:
                let at = Int.random(in: range.lowerBound...upper, using: &rng)
                bytes.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
            case 7:
                let at = Int.random(in: range.lowerBound..<upper, using: &rng)
                bytes.removeSubrange(at..<min(upper, at + Int.random(in: 1...32, using: &rng)))
            case 8:
                let from = Int.random(in: range.lowerBound..<upper, using: &rng)
                let chunk = Array(bytes[from..<min(upper, from + Int.random(in: 1...64, using: &rng))])
                bytes.insert(contentsOf: chunk, at: Int.random(in: range.lowerBound...upper, using: &rng))
            default:
                bytes.removeSubrange(Int.random(in: range.lowerBound..<upper, using: &rng)..<bytes.count)
            }
        }
    }

    /// Byte ranges of the JSON tokens of `text`: strings, numbers, literals, brackets.
    static func jsonTokens(_ text: [UInt8]) -> [Range<Int>] {
        var tokens: [Range<Int>] = []
        var i = 0
        while i < text.count {
            let c = text[i]
            if c == UInt8(ascii: "\"") {
                var j = i + 1
                while j < text.count, text[j] != UInt8(ascii: "\"") { j += text[j] == UInt8(ascii: "\\") ? 2 : 1 }
                tokens.append(i..<min(text.count, j + 1))
                i = j + 1
            } else if c == UInt8(ascii: "-") || (48...57).contains(c) {
                var j = i + 1
                while j < text.count, (48...57).contains(text[j]) || text[j] == UInt8(ascii: ".") || text[j] == UInt8(ascii: "e") { j += 1 }
                tokens.append(i..<j)
                i = j
            } else if "[]{}".utf8.contains(c) {
                tokens.append(i..<(i + 1))
                i += 1
            } else {
                i += 1
            }
        }
        return tokens
    }
}
