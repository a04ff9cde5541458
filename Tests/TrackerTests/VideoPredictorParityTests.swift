// VideoPredictor parity with the official SAM2VideoPredictor on scripted sessions over 24 real
// frames of bedroom.mp4 and the micro model (Fixtures/video/micro_session*.safetensors, written by
// Tools/reference/make_session_fixtures.py): prompts on several frames, corrections, propagation
// forward and in reverse from any frame, an object removed. Step by step, every returned frame's
// logits, object scores and object pointers, and at the end every stored memory, must match
// (SessionReplay; DESIGN §8 tolerances: relative L2 <= 1e-4, masks identical except where
// |logit| < 1e-3). Hole filling is off, as in the CPU reference.

import Foundation
import XCTest
import Checkpoint
import SAM2
import Tensor
import TestSupport
import Tracker

final class VideoPredictorParityTests: XCTestCase {
    let tolerance = 1e-4

    /// Issue 25's session: prompts on frames 0 and 10 (box, one click then a second kept with it,
    /// mask), forward propagation, a correction on tracked frame 15, propagation forward then in
    /// reverse from 15, object 2 removed, a mask on tracked frame 20, 8 frames in reverse from 20.
    func testInteractiveSession() throws {
        let figures = try replay("micro_session")
        XCTAssertEqual(figures.propagatedFrames, 24 + 9 + 16 + 9)
    }

    /// Issue 26's command-line run: prompts on frames 0 and 10, forward from the first prompted
    /// frame, then reverse (from frame 0: nothing to do, as the official code).
    func testCommandLineRunPromptedFromFrameZero() throws {
        let figures = try replay("micro_session_cli")
        XCTAssertEqual(figures.propagatedFrames, 24)
    }

    /// The same with the first prompt on frame 6: forward 6...23, then reverse 6...0.
    func testCommandLineRunPromptedLater() throws {
        let figures = try replay("micro_session_cli_late")
        XCTAssertEqual(figures.propagatedFrames, 18 + 7)
    }

    /// The session with add_all_frames_to_correct_as_cond=False (the official build's default):
    /// corrections stay non-conditioning outputs; the propagations start beside them (16, 14, 19).
    func testInteractiveSessionWithCorrectionsNotConditioning() throws {
        let figures = try replay("micro_session_nocond")
        XCTAssertEqual(figures.propagatedFrames, 24 + 8 + 15 + 9)
    }

    func replay(_ name: String) throws -> SessionReplay.Figures {
        let reference = try Fixtures.reference("video/\(name).safetensors")
        let replay = try SessionReplay(reference, tolerance: tolerance)
        let model = try SAM2Model(config: try ConfigInference.load(configFile: Fixtures.path(reference.metadata["config"]!)),
                                  store: try CheckpointLoader.load(path: Fixtures.path(reference.metadata["checkpoint"]!)))
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("video/bedroom_128x128_24.rgb"))))
        let count = reference.int("frames")!
        let frames = TensorFrames((0..<count).map { TrackingFixture.frame(raw, index: $0, size: model.config.imageSize) },
                                  sourceWidth: replay.sourceWidth, sourceHeight: replay.sourceHeight)
        let predictor = VideoPredictor(model: model, frames: frames,
                                       options: PredictorOptions(fillHoleArea: 0, correctionsAsConditioning: reference.int("add_all_frames_to_correct_as_cond") == 1))
        let figures = try replay.run(predictor)
        print(String(format: "%@: worst logits relative L2 %.3e, pointers %.3e over %d results, %d memories", name,
                     figures.worstLogits, figures.worstPointer, figures.comparedFrames, figures.comparedMemories))
        XCTAssertGreaterThan(figures.comparedMemories, 0, "the final state must be compared")
        return figures
    }
}
