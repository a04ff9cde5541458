// COCO RLE from untrusted input (issue 23, finding 1): sizes whose product overflows, counts that
// add up past or short of H * W, negative counts and malformed strings are typed errors, never a
// trap; a size above the caller's pixel bound is refused before anything is decoded; and a
// seeded property test throws thousands of random and mutated RLEs at the decoder (no crash,
// every accepted RLE is consistent and valid ones round-trip). Before the checks, the first
// test's `[4294967296, 4294967296]` trapped on `height * width` (SIGILL in the daemon).

import Foundation
import XCTest
import TestSupport
@testable import Export

final class COCORLEHardeningTests: XCTestCase {
    private func decodeJSON(_ text: String, maximumPixels: Int? = nil) throws -> COCORLE {
        let decoder = JSONDecoder()
        if let maximumPixels { decoder.userInfo[COCORLE.maximumPixelsKey] = maximumPixels }
        return try decoder.decode(COCORLE.self, from: Data(text.utf8))
    }

    /// The ExportError behind a JSON decoding failure.
    private func exportError(_ error: Error) -> ExportError? {
        if let error = error as? ExportError { return error }
        if case let DecodingError.dataCorrupted(context) = error { return context.underlyingError as? ExportError }
        return nil
    }

    func testOverflowingSizesAreTypedErrors() {
        // The issue's request body: 2^32 x 2^32 overflows Int.
        XCTAssertThrowsError(try decodeJSON(#"{"size": [4294967296, 4294967296], "counts": [0]}"#)) { error in
            XCTAssertEqual(exportError(error), .rleTooLarge(height: 4_294_967_296, width: 4_294_967_296,
                                                            maximumPixels: COCORLE.defaultMaximumPixels), "\(error)")
        }
        XCTAssertThrowsError(try decodeJSON(#"{"size": [4294967296, 4294967296], "counts": "0"}"#))
        XCTAssertThrowsError(try COCORLE(height: Int.max, width: 2, counts: [0])) { error in
            XCTAssertEqual(error as? ExportError, .rleTooLarge(height: Int.max, width: 2, maximumPixels: COCORLE.defaultMaximumPixels))
        }
        XCTAssertThrowsError(try COCORLE(height: Int.max, width: Int.max, compressed: "0"))
        XCTAssertThrowsError(try COCORLE(height: -1, width: -1, counts: [1])) { error in
            XCTAssertEqual(error as? ExportError, .invalidRLE("size [-1, -1] is negative"))
        }
        XCTAssertThrowsError(try decodeJSON(#"{"size": [-4, 5], "counts": "0"}"#))
        // Numbers JSON cannot hold as Int are decoding errors, not traps.
        XCTAssertThrowsError(try decodeJSON(#"{"size": [1e30, 2], "counts": "0"}"#))
        XCTAssertThrowsError(try decodeJSON(#"{"size": [18446744073709551616, 1], "counts": "0"}"#))
    }

    func testPixelBoundIsTheCallersAndComesFirst() throws {
        // 4000 x 4000 = 16 M pixels: fine by default, refused with a bound of 1 M.
        let big = try COCORLE(height: 4000, width: 4000, counts: [16_000_000])
        XCTAssertEqual(big.area, 0)
        XCTAssertThrowsError(try COCORLE(height: 4000, width: 4000, counts: [16_000_000], maximumPixels: 1 << 20)) { error in
            XCTAssertEqual(error as? ExportError, .rleTooLarge(height: 4000, width: 4000, maximumPixels: 1 << 20))
            XCTAssertTrue("\(error)".contains("4000, 4000"), "\(error)")
        }
        XCTAssertThrowsError(try decodeJSON(#"{"size": [4000, 4000], "counts": "0"}"#, maximumPixels: 1 << 20)) { error in
            XCTAssertEqual(exportError(error), .rleTooLarge(height: 4000, width: 4000, maximumPixels: 1 << 20))
        }
        // The bound is checked before the string is decoded: a malformed string of a too large
        // mask reports the size.
        XCTAssertThrowsError(try COCORLE(height: 1 << 20, width: 1 << 20, compressed: "!!!")) { error in
            XCTAssertEqual(error as? ExportError, .rleTooLarge(height: 1 << 20, width: 1 << 20, maximumPixels: COCORLE.defaultMaximumPixels))
        }
    }

    func testCountsPastOrShortOfTheSizeAndNegativeCounts() {
        // Past: 3 + UInt32.max would wrap a 32-bit sum; short: 3 of 4 pixels.
        XCTAssertThrowsError(try COCORLE(height: 2, width: 2, counts: [3, UInt32.max])) { error in
            XCTAssertEqual(error as? ExportError, .invalidRLE("counts add up to more than the 4 pixels of size [2, 2]"))
        }
        XCTAssertThrowsError(try COCORLE(height: 2, width: 2, counts: [3])) { error in
            XCTAssertEqual(error as? ExportError, .invalidRLE("counts add up to 3 pixels, size [2, 2] has 4"))
        }
        XCTAssertThrowsError(try COCORLE(height: 2, width: 2, counts: [UInt32](repeating: UInt32.max, count: 1000)))
        // Negative counts: in a list they do not decode as UInt32; in a string a negative first
        // count or a delta below zero is refused.
        XCTAssertThrowsError(try decodeJSON(#"{"size": [2, 2], "counts": [-1, 5]}"#))
        XCTAssertThrowsError(try COCORLE(height: 2, width: 2, compressed: "O5"))
        XCTAssertThrowsError(try COCORLE(height: 10, width: 10, compressed: "11O"))    // third count -1
        XCTAssertThrowsError(try COCORLE(height: 10, width: 10, compressed: "1100O"))  // fifth: 0 + (-1)
        // Malformed strings: characters outside '0'...'o', a cut-off value, an over-long value.
        for string in ["1 2", "P", "\u{00E9}", "oooooooooooooo1", "\u{0}"] {
            XCTAssertThrowsError(try COCORLE(height: 5, width: 5, compressed: string), string)
        }
    }

    /// An accepted RLE must be internally consistent and decode without trapping.
    private func checkAccepted(_ rle: COCORLE, _ context: @autoclosure () -> String) {
        XCTAssertEqual(rle.counts.reduce(0) { $0 + Int($1) }, rle.height * rle.width, context())
        let mask = rle.decoded()
        XCTAssertEqual(mask.area, rle.area, context())
        XCTAssertEqual(mask.boundingBox, rle.boundingBox, context())
        // The decoded mask re-encodes to canonical runs describing the same pixels.
        XCTAssertEqual(COCORLE(encoding: mask).decoded(), mask, context())
    }

    func testRandomAndMutatedRLEsNeverTrap() throws {
        var rng = SeededGenerator(seed: 0x23_0001)
        let alphabet = Array("0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmno".utf8)
        let hostile = Array(" !\"#/p{~\u{7F}".utf8) + [0, 0x80, 0xC3, 0xFF]
        let sizes: [Int] = [0, 1, 2, 3, 7, 64, 4096, 65_536, 1 << 31, 1 << 32, Int.max, -1, Int.min]
        var accepted = 0, refused = 0, roundTrips = 0
        let deadline = Date().addingTimeInterval(4)  // the CI budget; the seed fixes the sequence
        var iteration = 0
        while iteration < 20_000 && (iteration < 2_000 || Date() < deadline) {
            iteration += 1
            // A valid mask, encoded: must round-trip exactly.
            let height = Int.random(in: 0...24, using: &rng), width = Int.random(in: 0...24, using: &rng)
            let density = Double.random(in: 0...1, using: &rng)
            let mask = BinaryMask(width: width, height: height) { _, _ in Double.random(in: 0..<1, using: &rng) < density }
            let valid = COCORLE(encoding: mask)
            let string = valid.compressed
            let decoded = try COCORLE(height: height, width: width, compressed: string)
            XCTAssertEqual(decoded, valid)
            XCTAssertEqual(decoded.decoded(), mask)
            roundTrips += 1

            // Then a mutation of it (characters replaced, inserted, deleted, hostile bytes) with a
            // size that is right, slightly wrong, huge or negative.
            var bytes = Array(string.utf8)
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let pool = Int.random(in: 0..<8, using: &rng) == 0 ? hostile : alphabet
                let character = pool[Int.random(in: 0..<pool.count, using: &rng)]
                switch Int.random(in: 0..<3, using: &rng) {
                case 0 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = character
                case 1: bytes.insert(character, at: Int.random(in: 0...bytes.count, using: &rng))
                default: if !bytes.isEmpty { bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng)) }
                }
            }
            let mutated = String(decoding: bytes, as: UTF8.self)
            let h = Int.random(in: 0..<4, using: &rng) == 0 ? sizes[Int.random(in: 0..<sizes.count, using: &rng)] : height + Int.random(in: -1...1, using: &rng)
            let w = Int.random(in: 0..<4, using: &rng) == 0 ? sizes[Int.random(in: 0..<sizes.count, using: &rng)] : width
            do {
                let rle = try COCORLE(height: h, width: w, compressed: mutated, maximumPixels: 1 << 16)
                checkAccepted(rle, "\(h)x\(w) '\(mutated)'")
                accepted += 1
            } catch is ExportError {
                refused += 1
            }
            // Random count lists, as the uncompressed JSON form gives them.
            var counts = (0..<Int.random(in: 0...6, using: &rng)).map { _ in
                Int.random(in: 0..<3, using: &rng) == 0 ? UInt32.random(in: 0...UInt32.max, using: &rng) : UInt32.random(in: 0...40, using: &rng)
            }
            if Bool.random(using: &rng), h >= 0, w >= 0, h <= 1 << 16, w <= 1 << 16, h * w <= 1 << 16 {
                // Make them add up so that some are accepted.
                let sum = counts.reduce(0) { $0 + Int($1) }
                if sum <= h * w { counts.append(UInt32(h * w - sum)) }
            }
            do {
                let rle = try COCORLE(height: h, width: w, counts: counts, maximumPixels: 1 << 16)
                checkAccepted(rle, "\(h)x\(w) \(counts)")
                accepted += 1
            } catch is ExportError {
                refused += 1
            }
        }
        XCTAssertGreaterThan(accepted, 100, "accepted \(accepted), refused \(refused)")
        XCTAssertGreaterThan(refused, 100, "accepted \(accepted), refused \(refused)")
        XCTAssertGreaterThanOrEqual(roundTrips, 2_000)
    }
}
