// EncodeAhead: the two-stage pipeline of a streaming run. A thread of its own reads frame t + 1
// and runs the image encoder's trunk on it (the encoder lane) while the run's thread runs frame
// t's neck and tracks it (the tracker lane; the neck there balances the lanes); the two lanes share the run's cores (`ComputeContext.pipelineLanes`), so the
// lane that finishes its frame first lends its core to the other. The encoder does not depend on
// the tracker's state, so the results are those of the one-stage loop, bit for bit (the lanes'
// loops split the same way as the run's context).
//
// One frame is held ready at most: a run that stops leaves at most one frame read and encoded
// for nothing. Live sources are not pipelined (TrackingRun): a frame read ahead would wait a
// whole tracking step before its own, so results would come from staler frames.

import Foundation
import Media
import Tensor
import Tracker

/// Reads and encodes frames one ahead of the tracker on a thread of its own (see the file comment).
final class EncodeAhead: @unchecked Sendable {  // every mutable field is behind `condition`
    /// A frame as read, with its features.
    struct Item: Sendable {
        let frame: VideoFrame
        let image: Tensor
        let encoded: EncodedFrame
        /// Seconds `FrameReader.next()` took for this frame (waiting for the source included).
        let readSeconds: Double
    }

    private let condition = NSCondition()
    /// The next frame, the end of the source (nil) or why it could not be read or encoded.
    private var ready: Result<Item?, RunError>?
    private var stopping = false
    private var exited = false
    private let reader: FrameReader

    /// Starts reading `reader` on a new thread, encoding with `encoder` on `lane`.
    init(reader: FrameReader, encoder: FrameEncoder, lane: ComputeContext) {
        self.reader = reader
        let thread = Thread { [self] in produce(encoder: encoder, lane: lane) }
        thread.name = "samtrack-encoder"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// The next frame with its features; nil at the end of the source (or after `stop`). Throws
    /// the error reading or encoding that frame met.
    func next() throws(RunError) -> Item? {
        condition.lock()
        while ready == nil && !exited { condition.wait() }
        let result = ready
        ready = nil
        condition.broadcast()
        condition.unlock()
        return try result?.get() ?? nil
    }

    /// Stops the thread (interrupting a read that waits for the source: the reader is stopped,
    /// without waiting for its decoding thread, which the run's own `reader.stop()` does) and
    /// waits for it to exit (at most the encoding of one frame).
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        reader.stop(patience: 0)
        condition.lock()
        while !exited { condition.wait() }
        condition.unlock()
    }

    private func produce(encoder: FrameEncoder, lane: ComputeContext) {
        defer {
            condition.lock()
            exited = true
            condition.broadcast()
            condition.unlock()
        }
        while true {
            condition.lock()
            while ready != nil && !stopping { condition.wait() }
            let stop = stopping
            condition.unlock()
            if stop { return }
            let result = readAndEncode(encoder: encoder, lane: lane)
            condition.lock()
            ready = result
            condition.broadcast()
            condition.unlock()
            guard case .success(.some) = result else { return }  // the end, or an error: nothing follows
        }
    }

    private func readAndEncode(encoder: FrameEncoder, lane: ComputeContext) -> Result<Item?, RunError> {
        let frame: VideoFrame?
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            // Outside the lane: a reader's own loops (a live source's normalisation) run on this
            // thread, never on the process-default pool (this thread has no context bound).
            frame = try ComputeContext.onCallingThread { try reader.next() }
        } catch {
            return .failure(RunError.fromSource(error))
        }
        let readSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard let frame, let image = frame.image else { return .success(nil) }
        do {
            let encoded = try lane.run { try encoder.encode(image) }
            return .success(Item(frame: frame, image: image, encoded: encoded, readSeconds: readSeconds))
        } catch let error as TrackerError {
            return .failure(.tracker(error))
        } catch {
            return .failure(.tracker(.noFrame))
        }
    }
}
