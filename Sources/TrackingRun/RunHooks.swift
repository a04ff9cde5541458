// RunHooks: what a daemon job adds to a plain run, fixed when the run is created: periodic
// checkpoints of the tracker state, resuming from one, and callbacks about them.

import Export
import Foundation
import Media
import Tracker

/// Periodic saving of the tracker state.
public struct CheckpointOptions: Sendable {
    /// Where the state goes (safetensors, replaced atomically each time).
    public var statePath: String
    /// Save after every this many tracked frames (and when suspended).
    public var everyFrames: Int

    public init(statePath: String, everyFrames: Int) {
        self.statePath = statePath
        self.everyFrames = max(1, everyFrames)
    }
}

/// Where a resumed run picks up.
public struct ResumePoint: Sendable {
    /// A state saved by an earlier run of the same request (`CheckpointOptions.statePath`).
    public var statePath: String
    /// Prompts the earlier run received while running, with the frame each was applied to; those
    /// after the saved frame are applied again at the same frames.
    public var appliedPrompts: [TrackingPrompt]

    public init(statePath: String, appliedPrompts: [TrackingPrompt] = []) {
        self.statePath = statePath
        self.appliedPrompts = appliedPrompts
    }
}

/// Optional behaviour of a run (all default to none). Callbacks run on the run's thread.
public struct RunHooks: Sendable {
    /// Save the tracker state periodically (nil: never).
    public var checkpoint: CheckpointOptions?
    /// Continue from a saved state instead of frame 0 (nil: start fresh). When the state or the
    /// partial outputs cannot be used, the run starts at frame 0 and reports it through
    /// `onResumeFallback`.
    public var resume: ResumePoint?
    /// After each checkpoint, with the frame saved.
    public var onCheckpoint: (@Sendable (Int) -> Void)?
    /// Before a frame is tracked, with the prompts taken from `addPrompt` for it (their frame
    /// field is that frame).
    public var onPromptsApplied: (@Sendable (Int, [TrackingPrompt]) -> Void)?
    /// When `resume` could not be used, with the reason; the run starts at frame 0.
    public var onResumeFallback: (@Sendable (String) -> Void)?
    /// Once the source is open and the prompts fit it: its frame size and frame count (nil when
    /// unknown, e.g. live).
    public var onSourceOpened: (@Sendable (_ width: Int, _ height: Int, _ frameCount: Int?) -> Void)?

    public init(checkpoint: CheckpointOptions? = nil, resume: ResumePoint? = nil,
                onCheckpoint: (@Sendable (Int) -> Void)? = nil,
                onPromptsApplied: (@Sendable (Int, [TrackingPrompt]) -> Void)? = nil,
                onResumeFallback: (@Sendable (String) -> Void)? = nil,
                onSourceOpened: (@Sendable (Int, Int, Int?) -> Void)? = nil) {
        self.checkpoint = checkpoint
        self.resume = resume
        self.onCheckpoint = onCheckpoint
        self.onPromptsApplied = onPromptsApplied
        self.onResumeFallback = onResumeFallback
        self.onSourceOpened = onSourceOpened
    }
}

/// Progress after each tracked frame.
public struct FrameProgress: Sendable {
    /// Tracked frame index (0-based) and the source frame's presentation time.
    public var frame: Int
    public var pts: Double?
    /// Per object: id, score, area, box and the mask as COCO RLE (at the source size).
    public var objects: [MaskRecord]
    /// Frames per second over the time spent tracking (busy time: waiting for a live source's
    /// next frame is not counted).
    public var framesPerSecond: Double
    /// Frames the live reader dropped so far.
    public var droppedFrames: Int
    /// Total frames in the source when known.
    public var totalFrames: Int?
    /// Per-stage seconds spent so far.
    public var timings: StageTimings
    /// Objects that received a prompt on this frame (initial, scheduled or added while running).
    public var promptedObjects: [Int] = []
    /// Seconds spent so far waiting for decoded frames, and writing outputs.
    public var decodeSeconds: Double = 0
    public var outputSeconds: Double = 0
    /// Frames processed so far by this run (a both-direction run counts its first prompted frame
    /// in each pass, so it processes one frame more than the file holds).
    public var framesDone: Int = 0
    /// The tracked frame's 0-based index in the source (`frame` is its number, which an image
    /// sequence may take from its file names).
    public var index: Int = 0
}

/// Why a run ended where it did.
public enum RunEndReason: String, Sendable {
    /// The source had no more frames.
    case endOfSource = "end_of_source"
    /// `maxFrames` frames were tracked.
    case maxFrames = "max_frames"
    /// `stop()` or `suspend()` (or an interrupted source).
    case stopped
    /// A live source sent nothing for `InputOptions.idleTimeout` seconds.
    case sourceIdle = "source_idle"
    /// The file ends before the frames its container declares (a cut-off file): every frame
    /// that could be decoded was tracked (`TrackingSummary.sourceEnd` says how many).
    case truncated
    /// Frames of the source could not be decoded and were skipped.
    case damaged
}

/// Summary of a finished (or stopped) run.
public struct TrackingSummary: Sendable {
    /// Why the run ended.
    public var endReason: RunEndReason = .endOfSource
    /// How decoding of the source ended, in detail (nil when unknown).
    public var sourceEnd: EndReason? = nil
    public var framesTracked: Int
    public var droppedFrames: Int
    public var seconds: Double
    public var stopped: Bool
    public var sourceWidth: Int, sourceHeight: Int
    /// True when the run was suspended (`suspend()`): the state is saved and the outputs are left
    /// unfinished for a later resume.
    public var suspended: Bool = false
    /// The frame after which the run resumed (nil: it started at frame 0).
    public var resumedAfterFrame: Int? = nil
    /// The last frame whose state was saved (nil: none).
    public var checkpointFrame: Int? = nil
}
