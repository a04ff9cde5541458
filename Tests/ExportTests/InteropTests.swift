// Interoperability: the files written here are read by the reference tools, pycocotools
// (mask.decode / encode / area / toBbox), Pillow and NumPy, in Tools/interop/check_outputs.py,
// which compares them with masks described independently in expected.json (packed bits, not RLE).
// The script installs its dependencies into .venv-interop/ on first use. This test is skipped only
// when python3 itself is missing; any other problem (no network for pip, a mismatch) fails it.

import XCTest
import Tensor
import TestSupport
@testable import Export

final class InteropTests: XCTestCase {
    /// One frame of the synthetic run.
    private struct Case {
        let frame: Int
        let pts: Double?
        let width: Int
        let height: Int
        let objects: [ObjectMask]
    }

    private func cases() -> [Case] {
        func blobs(_ w: Int, _ h: Int, _ n: Int, _ seed: UInt64) -> BinaryMask {
            SyntheticMasks.blobs(width: w, height: h, blobs: n, seed: seed)
        }
        let full = { (w: Int, h: Int) in BinaryMask(width: w, height: h, pixels: [UInt8](repeating: 1, count: w * h)) }
        return [
            // Random blobs at an odd size; objects overlap, two share a score (later wins).
            Case(frame: 0, pts: 0, width: 37, height: 53, objects: [
                ObjectMask(id: 1, score: 3.2, mask: blobs(37, 53, 3, 11)),
                ObjectMask(id: 2, score: -0.75, mask: blobs(37, 53, 3, 12)),
                ObjectMask(id: 3, score: -0.75, mask: blobs(37, 53, 3, 13)),
            ]),
            // Empty and full masks.
            Case(frame: 1, pts: 1.0 / 30, width: 64, height: 48, objects: [
                ObjectMask(id: 1, score: 10, mask: BinaryMask(width: 64, height: 48)),
                ObjectMask(id: 2, score: -1024, mask: full(64, 48)),
            ]),
            // 1x1, set and unset.
            Case(frame: 2, pts: nil, width: 1, height: 1, objects: [
                ObjectMask(id: 5, score: 0.5, mask: full(1, 1)),
                ObjectMask(id: 6, score: 0.25, mask: BinaryMask(width: 1, height: 1)),
            ]),
            // Many short runs (negative deltas in the string form), transposed odd size.
            Case(frame: 5, pts: 1e-5, width: 53, height: 37, objects: [
                ObjectMask(id: 255, score: 1, mask: SyntheticMasks.noise(width: 53, height: 37, density: 0.4, seed: 14)),
                ObjectMask(id: 7, score: 2, mask: SyntheticMasks.noise(width: 53, height: 37, density: 0.9, seed: 15)),
            ]),
            // Full HD, three objects.
            Case(frame: 100_000, pts: 3333.3666666666666, width: 1920, height: 1080, objects: [
                ObjectMask(id: 1, score: 4.5, mask: blobs(1920, 1080, 4, 21)),
                ObjectMask(id: 2, score: 2.25, mask: blobs(1920, 1080, 2, 22)),
                ObjectMask(id: 12, score: 7, mask: blobs(1920, 1080, 8, 23)),
            ]),
        ]
    }

    /// numpy.packbits of the row-major pixels, base64.
    private func packedBits(_ mask: BinaryMask) -> String {
        var bytes = [UInt8](repeating: 0, count: (mask.pixels.count + 7) / 8)
        for (i, value) in mask.pixels.enumerated() where value != 0 { bytes[i / 8] |= 0x80 >> UInt8(i % 8) }
        return Data(bytes).base64EncodedString()
    }

    func testReferenceToolsReadOurFiles() throws {
        guard let python = executableOnPath("python3") else {
            throw XCTSkip("python3 is not installed: the pycocotools / Pillow / NumPy interop check cannot run")
        }
        let dir = try TemporaryDirectory("interop")
        let jsonl = try MaskJSONLWriter(directory: dir.file("rle"))
        let grey = try MaskPNGWriter(directory: dir.file("png"))
        let palette = try PalettePNGWriter(directory: dir.file("palette"))
        let npy = try NPYWriter(directory: dir.file("logits"))
        var frames: [[String: Any]] = []
        var logits: [[String: Any]] = []
        var rng = SeededGenerator(seed: 99)
        for item in cases() {
            try jsonl.append(frame: item.frame, pts: item.pts, objects: item.objects)
            try grey.write(frame: item.frame, objects: item.objects)
            try palette.write(frame: item.frame, width: item.width, height: item.height, objects: item.objects)
            frames.append([
                "frame": item.frame, "pts": item.pts.map { $0 as Any } ?? NSNull(),
                "width": item.width, "height": item.height,
                "objects": item.objects.map { ["id": $0.id, "score": $0.score.description, "bits": packedBits($0.mask)] },
            ])
            // Low-res logits of the first object: random values plus special ones.
            let (h, w) = (max(1, item.height / 4), max(1, item.width / 4))
            var values = (0..<(h * w)).map { _ in Float.random(in: -30...30, using: &rng) }
            if values.count >= 4 { values[0] = .nan; values[1] = -.infinity; values[2] = -0.0; values[3] = .leastNonzeroMagnitude }
            try npy.write(frame: item.frame, id: item.objects[0].id, logits: Tensor(shape: [1, 1, h, w], values: values))
            logits.append([
                "file": "\(OutputLayout.frameName(item.frame))_\(item.objects[0].id).npy", "shape": [h, w],
                "data": values.withUnsafeBytes { Data($0) }.base64EncodedString(),
            ])
        }
        try jsonl.finish()
        let expected: [String: Any] = [
            "layout": ["rle": "rle", "png": "png", "palette": "palette", "logits": "logits"],
            "frames": frames, "logits": logits,
        ]
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: dir.file("expected.json")))

        let script = Fixtures.repositoryRoot.appendingPathComponent("Tools/interop/check_outputs.py").path
        let (status, output) = try runProcess(python, [script, dir.path], timeout: 1200)
        XCTAssertEqual(status, 0, "check_outputs.py failed:\n\(output)")
        XCTAssertTrue(output.contains("checks passed"), output)
        // Print the summary line so the log shows what was checked.
        print(output.split(separator: "\n").last.map(String.init) ?? "")
    }

    /// The checker must fail on a wrong file, not pass silently.
    func testCheckerDetectsAMismatch() throws {
        guard let python = executableOnPath("python3") else {
            throw XCTSkip("python3 is not installed: the pycocotools / Pillow / NumPy interop check cannot run")
        }
        let dir = try TemporaryDirectory("interop-bad")
        var mask = BinaryMask(width: 5, height: 4)
        mask[2, 1] = true
        let writer = try MaskJSONLWriter(directory: dir.file("rle"))
        try writer.append(frame: 0, pts: 0, objects: [ObjectMask(id: 1, score: 1, mask: mask)])
        try writer.finish()
        mask[3, 1] = true  // the expectation differs by one pixel
        let expected: [String: Any] = [
            "layout": ["rle": "rle"],
            "frames": [["frame": 0, "pts": 0.0, "width": 5, "height": 4,
                        "objects": [["id": 1, "score": "1.0", "bits": packedBits(mask)]]]],
        ]
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: dir.file("expected.json")))
        let script = Fixtures.repositoryRoot.appendingPathComponent("Tools/interop/check_outputs.py").path
        let (status, output) = try runProcess(python, [script, dir.path], timeout: 1200)
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("pycocotools.mask.decode differs in 1 pixels"), output)
    }
}
