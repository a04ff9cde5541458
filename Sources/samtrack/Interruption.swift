// Interruption: what SIGINT and SIGTERM do to `samtrack track`, and the one place the process ends
// once a run has started.
//
//   1st signal   stop after the current frame; the run finishes every output (masks.jsonl renamed
//                from .partial, the overlay video finalised), run.json is written, exit 130.
//   2nd signal   quit now, without waiting for the frame being tracked (which is dropped): the
//                outputs are finished from the signal thread with every frame written so far
//                (`TrackingRun.finishNow`, which waits for a frame being written), run.json is
//                written, then `_exit(130)`; compute threads are not unwound (no atexit handlers
//                run while they work, the cause of the crashes `exit()` in a signal handler made).
//   later        ignored (a note is printed): the files are being finished. If they cannot be
//                within `quitDeadline` seconds (a write that hangs), the process `_exit`s anyway;
//                masks.jsonl.partial then holds every finished frame, one complete line each.
//
// Signals arrive through dispatch sources (counted with the source's `data`, so that two
// signals delivered together, as GNU `timeout` sends one to the child and one to its group,
// count as two). Whichever comes first — the main thread after the run returned, or the quit
// path — claims `ExitGate` and ends the process; the other waits for that.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Ends the process exactly once (see the file comment).
enum ExitGate {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var claimed = false

    /// Returns for the first caller; every later caller blocks until the first ends the process.
    static func claim() {
        lock.lock()
        if claimed {
            lock.unlock()
            DispatchSemaphore(value: 0).wait()
        }
        claimed = true
        lock.unlock()
    }
}

/// Escalating SIGINT / SIGTERM handling for one run (see the file comment).
/// It stays installed until the process ends: a signal while the files are being finished must
/// not kill the process with the default action.
final class InterruptHandler: @unchecked Sendable {  // `count` is only touched on `queue`
    /// Seconds the quit path waits for a frame being written before it exits anyway.
    static let quitDeadline = 10.0

    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "samtrack.signals")
    private var count = 0

    /// - Parameters:
    ///   - stop: called on the first signal (ask the run to stop after the current frame).
    ///   - quit: called once, on its own thread, on the second; it finishes the files and ends
    ///     the process.
    init(stop: @escaping @Sendable () -> Void, quit: @escaping @Sendable () -> Never) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [unowned self] in
                let before = count
                count += max(1, Int(source.data))
                if before == 0 {
                    FileHandle.standardError.write(Data("\nstopping after the current frame (again to quit now)\n".utf8))
                    stop()
                }
                if before < 2 && count >= 2 {
                    FileHandle.standardError.write(Data("quitting now: finishing the output files with the frames done\n".utf8))
                    Thread.detachNewThread { quit() }
                } else if before >= 2 {
                    FileHandle.standardError.write(Data("still finishing the output files\n".utf8))
                }
            }
            source.resume()
            sources.append(source)
        }
    }
}
