// swift-tools-version:6.0
// samtrack: SAM 2 / SAM 2.1 video object tracking in Swift, on OpenBLAS and FFmpeg.
// Layout and dependency direction: ../shared/DESIGN.md §1.
import PackageDescription

/// Release builds of the numeric targets get the unchecked optimiser, which lets the
/// element-wise loops vectorise without bounds checks. Debug builds of them are optimised too
/// (with checks): unoptimised SIMD code is ~100x slower, which would make the parity tests crawl.
/// Haswell-level features (AVX2, FMA) let the SIMD16 loops use 256-bit registers; every machine this project
/// builds and runs on has it (the x86-64 default baseline is SSE2).
let cpuFlags: [String] = {
    #if arch(x86_64)
    return ["-target-cpu", "haswell"]
    #else
    return []
    #endif
}()
let numericSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"] + cpuFlags, .when(configuration: .release)),
    .unsafeFlags(["-O"] + cpuFlags, .when(configuration: .debug)),
]

let package = Package(
    name: "samtrack",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "samtrack", targets: ["samtrack"]),
        .executable(name: "samtrackd", targets: ["samtrackd"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Checkpoint", targets: ["Checkpoint"]),
        .library(name: "SAM2", targets: ["SAM2"]),
        .library(name: "Media", targets: ["Media"]),
        .library(name: "Tracker", targets: ["Tracker"]),
        .library(name: "Export", targets: ["Export"]),
        .library(name: "TrackingRun", targets: ["TrackingRun"]),
        .library(name: "Training", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The daemon: HTTP server, SQLite job store, logging, metrics with a Prometheus exposition,
        // and the service lifecycle (graceful shutdown of the server and the job scheduler).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The daemon's HTTP timeouts handler (a NIO channel handler on Hummingbird's request parts).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // The daemon's PostgreSQL job store (many nodes on one queue, issue 29).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // MARK: C system libraries (Debian packages named in each module map's README)
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavdevice",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev",
                              "libavutil-dev", "libavdevice-dev"])]
        ),

        // MARK: Numerics and weights
        // bfloat16 products on AVX-512 BF16 (the kernels carry their own target attributes, so
        // the target builds on any x86-64; debug builds are optimised too, like the Swift numerics).
        .target(name: "CAVX512", exclude: ["README.md"], cSettings: [.unsafeFlags(["-O2"])]),
        // fp32 products with weights packed once, on AVX2 + FMA (the same arrangement as CAVX512).
        .target(name: "CAVX2", exclude: ["README.md"], cSettings: [.unsafeFlags(["-O2"])]),
        // The worker pool's spin-wait hint and per-thread priority.
        .target(name: "CSpin", exclude: ["README.md"]),
        // Atomic, no-follow file writing (every output, checkpoint and state file).
        .target(name: "FileIO", exclude: ["README.md"], swiftSettings: numericSettings),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CAVX512", "CAVX2", "CSpin"], exclude: ["README.md"], swiftSettings: numericSettings),
        .target(name: "Checkpoint", dependencies: ["Tensor", "FileIO"], exclude: ["README.md"], swiftSettings: numericSettings),
        .target(name: "SAM2", dependencies: ["Tensor", "Checkpoint"], exclude: ["README.md"], swiftSettings: numericSettings),
        .target(name: "Tracker", dependencies: ["SAM2", "Tensor", "Checkpoint"], exclude: ["README.md"], swiftSettings: numericSettings),

        // MARK: Media (everything that touches FFmpeg) and output formats
        .target(name: "Media", dependencies: ["CFFmpeg", "Tensor", "FileIO"], exclude: ["README.md"], swiftSettings: numericSettings),
        .target(name: "Export", dependencies: ["Media", "Tensor", "FileIO"], exclude: ["README.md"], swiftSettings: numericSettings),

        // MARK: Fine-tuning (prompt encoder + mask decoder gradients, losses, AdamW, data readers)
        .target(name: "Training",
                dependencies: ["SAM2", "Tensor", "Checkpoint", "Media", "Export", "TrackingRun", "FileIO"],
                exclude: ["README.md"], swiftSettings: numericSettings),

        // MARK: The run library (CLI and daemon) and the daemon library
        .target(name: "TrackingRun",
                dependencies: ["Tracker", "SAM2", "Media", "Export", "Tensor", "FileIO"],
                exclude: ["README.md"]),
        .target(name: "TrackingDaemon",
                dependencies: ["TrackingRun", "Tracker", "SAM2", "Media", "Export", "Tensor", "Checkpoint", "FileIO",
                               .product(name: "GRDB", package: "GRDB.swift"),
                               .product(name: "PostgresNIO", package: "postgres-nio"),
                               .product(name: "NIOCore", package: "swift-nio"),
                               .product(name: "NIOPosix", package: "swift-nio"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
                exclude: ["README.md"]),

        // MARK: Executables (thin: options and wiring only)
        .executableTarget(
            name: "samtrack",
            dependencies: [
                "Tensor", "Checkpoint", "SAM2", "Tracker", "Media", "Export", "TrackingRun", "Training", "FileIO", "COpenBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .executableTarget(
            name: "samtrackd",
            dependencies: [
                "TrackingDaemon", "TrackingRun", "Tensor", "FileIO",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["README.md"]
        ),

        // MARK: Tests
        .target(name: "TestSupport", dependencies: ["Tensor", "Checkpoint"], exclude: ["README.md"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "CAVX512", "CAVX2", "CSpin", "TestSupport"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "TestSupport"]),
        .testTarget(name: "SAM2Tests", dependencies: ["SAM2", "TestSupport"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "FileIO", "TestSupport"]),
        .testTarget(name: "TrackerTests", dependencies: ["Tracker", "SAM2", "Export", "TestSupport"]),
        .testTarget(name: "ExportTests", dependencies: ["Export", "FileIO", "TestSupport"]),
        // End to end: runs the built samtrack binary (found next to the test runner) with ffmpeg,
        // ffprobe and the Python interop check; help snapshots in Snapshots/.
        .testTarget(name: "samtrackTests", dependencies: ["TestSupport", "Export", "Media", "Tensor"], exclude: ["Snapshots"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "SAM2", "Checkpoint", "Export", "Media", "FileIO", "TestSupport"]),
        .testTarget(name: "TrackingRunTests", dependencies: ["TrackingRun", "Export", "SAM2", "TestSupport"]),
        .testTarget(name: "TrackingDaemonTests", dependencies: ["TrackingDaemon", "TrackingRun", "Export", "SAM2", "Media", "FileIO", "TestSupport",
                                                           "Tensor", "Tracker", "Checkpoint",
                                                           .product(name: "GRDB", package: "GRDB.swift")]),
        // End to end: starts the built samtrackd binary (a dependency so that it is built first).
        .testTarget(name: "samtrackdTests", dependencies: ["samtrackd", "Export", "TestSupport"]),
    ]
)
