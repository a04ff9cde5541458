// RunManifest: run.json, the record written beside a run's outputs of what produced them — the
// source, the model and its SHA-256, the prompts (in the JSON prompt schema, `PromptSpec`), the
// options, the samtrack version, how many frames were tracked, why the run ended and how long it
// took. Written atomically (FileIO) when the run ends, including when it is interrupted, so that
// a directory of masks always says where it came from. Keys are snake_case, sorted.
//
//   {"samtrack_version": "0.1.0", "command": ["samtrack", "track", ...],
//    "source": {"input": "clip.mp4", "width": 1280, "height": 720, "frame_count": 300, ...},
//    "model": {"path": "sam2.1_hiera_tiny.pt", "sha256": "...", "bytes": 155906050},
//    "prompts": [{"object": 1, "frame": 0, "box": [...]}],
//    "outputs": {"directory": "out", "formats": ["rle"], "overlay": null, ...},
//    "options": {"max_frames": null, "fill_holes": 8, "precision": "fp32", ...},
//    "frames_tracked": 300, "frames_dropped": 0, "end_reason": "end_of_source",
//    "started_at": "...", "finished_at": "...", "timings": {"total_seconds": 12.5, ...}}

import Foundation
import Export
import FileIO

/// The contents of run.json (see the file comment). Plain data: the caller fills it in.
public struct RunManifest: Codable, Sendable, Equatable {
    /// The source as opened.
    public struct Source: Codable, Sendable, Equatable {
        public var input: String
        /// FFmpeg's demuxer when forced (`--input-format`) and demuxer options.
        public var inputFormat: String?
        public var inputOptions: [String: String]?
        /// Known once the source is open.
        public var width: Int?
        public var height: Int?
        /// Frames the source declares (nil when unknown, e.g. live).
        public var frameCount: Int?

        enum CodingKeys: String, CodingKey {
            case input, width, height
            case inputFormat = "input_format", inputOptions = "input_options", frameCount = "frame_count"
        }

        public init(input: String, inputFormat: String? = nil, inputOptions: [String: String]? = nil) {
            self.input = input
            self.inputFormat = inputFormat
            self.inputOptions = inputOptions
        }
    }

    /// The checkpoint.
    public struct Model: Codable, Sendable, Equatable {
        public var path: String
        /// Lowercase hex SHA-256 of the checkpoint file (nil if it could not be computed in time).
        public var sha256: String?
        public var bytes: Int?
        /// A config file given with it (`--config`).
        public var config: String?

        public init(path: String, sha256: String? = nil, bytes: Int? = nil, config: String? = nil) {
            self.path = path
            self.sha256 = sha256
            self.bytes = bytes
            self.config = config
        }
    }

    /// Where the results went.
    public struct Outputs: Codable, Sendable, Equatable {
        public var directory: String?
        public var formats: [MaskFormat]
        public var overlay: String?
        public var logitsDirectory: String?

        enum CodingKeys: String, CodingKey {
            case directory, formats, overlay
            case logitsDirectory = "logits_directory"
        }

        public init(_ options: OutputOptions) {
            directory = options.directory
            formats = options.formats
            overlay = options.overlay
            logitsDirectory = options.logitsDirectory
        }
    }

    /// Seconds spent.
    public struct Timings: Codable, Sendable, Equatable {
        /// Wall time of the run, from opening the source to the end.
        public var totalSeconds: Double
        /// Waiting for decoded frames, tracking, writing outputs (nil before the first frame).
        public var decodeSeconds: Double?
        public var trackingSeconds: Double?
        public var outputSeconds: Double?
        /// Frames per second over the busy (tracking and output) time.
        public var framesPerSecond: Double?

        enum CodingKeys: String, CodingKey {
            case totalSeconds = "total_seconds", decodeSeconds = "decode_seconds", trackingSeconds = "tracking_seconds"
            case outputSeconds = "output_seconds", framesPerSecond = "frames_per_second"
        }

        public init(totalSeconds: Double) { self.totalSeconds = totalSeconds }
    }

    public var samtrackVersion: String
    /// The command line (argv).
    public var command: [String]
    public var source: Source
    public var model: Model
    public var prompts: [PromptSpec]
    public var outputs: Outputs
    /// Other options that change the results (`max_frames`, `fill_holes`, `precision`, `threads`,
    /// `live`...), as text.
    public var options: [String: String]
    public var framesTracked: Int = 0
    public var framesDropped: Int = 0
    /// `RunEndReason`'s raw value, `interrupted` (stopped by a signal) or `failed`.
    public var endReason: String = "running"
    /// The failure's message when `endReason` is `failed`.
    public var error: String?
    public var startedAt: Date
    public var finishedAt: Date?
    public var timings: Timings?

    enum CodingKeys: String, CodingKey {
        case command, source, model, prompts, outputs, options, error, timings
        case samtrackVersion = "samtrack_version", framesTracked = "frames_tracked", framesDropped = "frames_dropped"
        case endReason = "end_reason", startedAt = "started_at", finishedAt = "finished_at"
    }

    public init(samtrackVersion: String, command: [String], source: Source, model: Model, prompts: [PromptSpec],
                outputs: Outputs, options: [String: String], startedAt: Date = Date()) {
        self.samtrackVersion = samtrackVersion
        self.command = command
        self.source = source
        self.model = model
        self.prompts = prompts
        self.outputs = outputs
        self.options = options
        self.startedAt = startedAt
    }

    /// The JSON text: sorted keys, ISO 8601 dates, a final newline. Keys are spelled out by the
    /// CodingKeys (no key strategy), so that dictionary keys such as input options stay as given.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [0x0A]
    }

    /// Reads a run.json.
    public static func decode(_ data: Data) throws -> RunManifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(RunManifest.self, from: data)
    }

    /// Writes DIR/run.json atomically (a temporary file renamed into place, never through a link).
    public func write(toDirectory directory: String) throws {
        let handle = try DirectoryHandle.open(directory, create: true)
        try AtomicFile.write(try encoded(), named: OutputLayout.manifestName, in: handle)
    }
}
