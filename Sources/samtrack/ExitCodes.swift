// ExitCodes: what `samtrack` exits with, by name (sysexits.h where one fits; the table in
// samtrack(1)), and the mapping from the libraries' typed errors to them and to one line of text.

import ArgumentParser
import Checkpoint
import Export
import FileIO
import Foundation
import Media
import SAM2
import TrackingRun

/// samtrack's exit codes.
enum CLIExit: Int32, CaseIterable {
    /// Done.
    case success = 0
    /// Any other failure (the tracker refused a step, a resume failed).
    case failure = 1
    /// Bad command line (EX_USAGE; ArgumentParser's own code for validation errors).
    case usage = 64
    /// Bad input data: a prompt outside the frame or past the last frame, a damaged model file, a
    /// mask of the wrong size, a corrupt video (EX_DATAERR).
    case dataError = 65
    /// An input cannot be opened: the video, an image, a mask or the model file (EX_NOINPUT).
    case noInput = 66
    /// An output cannot be created or written (EX_CANTCREAT).
    case cannotCreate = 73
    /// The disk is full, or a read or write failed midway (EX_IOERR).
    case ioError = 74
    /// Stopped by SIGINT / SIGTERM after finishing the current frame (128 + SIGINT).
    case interrupted = 130
}

/// A runtime failure reported as one line "Error: <reason>" and a named exit code.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    let exit: CLIExit
    init(_ message: String, exit: CLIExit = .failure) {
        description = message
        self.exit = exit
    }

    /// The failure for a library error, classified by its type and case.
    init(_ error: Error) {
        switch error {
        case let error as CommandFailure: self = error
        case let error as RunError:
            switch error {
            case .noPrompts: self.init(error.description, exit: .usage)
            case .prompt, .noPromptOnFirstFrame, .outputFormat: self.init(error.description, exit: .dataError)
            case let .source(media): self.init(media, exit: CommandFailure.exit(for: media))
            case let .output(file): self.init(file.description, exit: file.isOutOfSpace ? .ioError : .cannotCreate)
            case .overlay: self.init(error.description, exit: .cannotCreate)
            case .notRandomAccess: self.init(error.description, exit: .usage)
            case .predictor(.prompt), .predictor(.invalidFrame): self.init(error.description, exit: .dataError)
            case .tracker, .predictor, .resume: self.init(error.description, exit: .failure)
            }
        case let error as MediaError: self.init(error, exit: CommandFailure.exit(for: error))
        case let error as FileError: self.init(error.description, exit: error.isOutOfSpace ? .ioError : .cannotCreate)
        case let error as CheckpointError:
            if case .cannotOpen = error { self.init(error.description, exit: .noInput) } else { self.init(error.description, exit: .dataError) }
        case let error as ConfigError: self.init(error.description, exit: .dataError)
        case let error as PromptError: self.init(error.description, exit: .dataError)
        case let error as ExportError: self.init(error.description, exit: .dataError)
        case let error as StoredMasksError:
            if case .notMasks = error { self.init(error.description, exit: .noInput) } else { self.init(error.description, exit: .dataError) }
        case let error as MaskImageError: self.init(error.description, exit: .dataError)
        default: self.init("\(error)", exit: .failure)
        }
    }

    private init(_ error: MediaError, exit: CLIExit) { self.init(error.description, exit: exit) }

    static func exit(for error: MediaError) -> CLIExit {
        switch error {
        case .fileNotFound, .cannotOpen, .deviceUnavailable: return .noInput
        case .notMediaFile, .noVideoStream, .decoderNotFound, .unsupportedPixelFormat, .readFailed, .invalidArgument,
             .formatNotAllowed: return .dataError
        case .outsideAllowedDirectories: return .noInput
        case .interrupted: return .interrupted
        case .encoderNotFound, .encodeFailed, .writeFailed: return .cannotCreate
        }
    }
}

/// Runs `body`, turning library errors into `CommandFailure`s (validation errors and exit codes
/// pass through).
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ValidationError {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        throw CommandFailure(error)
    }
}
