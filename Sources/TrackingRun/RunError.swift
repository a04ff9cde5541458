// RunError: why a tracking run failed, with the cause kept as a typed value (a `PromptError`, the
// source's `MediaError`, an output's `FileError`...), so that the CLI can choose an exit code and
// the daemon an error code by matching cases, never by reading text or type names.

import Export
import FileIO
import Media
import SAM2
import Tracker

/// A failed tracking run (see the file comment).
public enum RunError: Error, CustomStringConvertible, Sendable {
    /// The request has no prompts.
    case noPrompts
    /// A prompt breaks `PromptRules` for this source (outside the frame, wrong mask size, a frame
    /// past the end...).
    case prompt(objectID: Int, frame: Int, PromptError)
    /// No object is prompted on the first tracked frame (the streaming tracker starts there).
    case noPromptOnFirstFrame(frame: Int)
    /// The source could not be opened, read or decoded.
    case source(MediaError)
    /// A file-system failure while writing an output (permissions, a full disk, a link).
    case output(FileError)
    /// An output format refused the data (e.g. a palette PNG cannot hold object id 300).
    case outputFormat(ExportError)
    /// The overlay video could not be encoded.
    case overlay(MediaError)
    /// The tracker refused a step.
    case tracker(TrackerError)
    /// The predictor (the random-access path) refused a prompt or a propagation.
    case predictor(PredictorError)
    /// A saved state could not be used where it was required (the source ended before it).
    case resume(String)
    /// Prompts after frame 0 or backward tracking need random access, which the input (a pipe,
    /// stream or device) does not give.
    case notRandomAccess(input: String)

    public var description: String {
        switch self {
        case .noPrompts: return "no prompts: give at least one object (box, point or mask)"
        case let .prompt(id, frame, error): return "prompt for object \(id) on frame \(frame): \(error.description)"
        case let .noPromptOnFirstFrame(frame):
            return "the first prompt is on frame \(frame); at least one object must be prompted on frame 0"
        case let .source(error): return error.description
        case let .output(error): return error.description
        case let .outputFormat(error): return error.description
        case let .overlay(error): return error.description
        case let .tracker(error): return error.description
        case let .predictor(error): return error.description
        case let .resume(reason): return "cannot resume: \(reason)"
        case let .notRandomAccess(input):
            return "'\(input)' is a pipe, stream or device, which can only be read forward: prompts after frame 0 "
                + "and backward tracking need a file (save the stream to a file first), or prompt on frame 0 and track forward "
                + "(--direction forward)"
        }
    }

    /// Wraps an error thrown while writing outputs.
    static func fromOutput(_ error: Error) -> RunError {
        switch error {
        case let error as RunError: return error
        case let error as FileError: return .output(error)
        case let error as ExportError: return .outputFormat(error)
        case let error as MediaError: return .overlay(error)
        default: return .outputFormat(.invalidArgument("\(error)"))
        }
    }

    /// Wraps an error of the predictor path (`PredictorRun`).
    static func fromPredictor(_ error: PredictorError) -> RunError {
        switch error {
        case let .frameUnreadable(_, cause): return fromSource(cause)
        default: return .predictor(error)
        }
    }

    /// Wraps an error thrown while reading the source.
    static func fromSource(_ error: Error) -> RunError {
        switch error {
        case let error as RunError: return error
        case let error as MediaError: return .source(error)
        default: return .source(.readFailed(input: "source", reason: "\(error)"))
        }
    }
}
