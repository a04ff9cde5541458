// JobEvents: the per-job fan-out of Server-Sent Events. The job's worker publishes one `frame`
// event per tracked frame and a final `end` event; each subscriber gets an AsyncStream. The last
// `historyLimit` frame events are kept so that a client that subscribes late (or reconnects with
// `Last-Event-ID`) sees the frames it missed.

import Foundation

/// One Server-Sent Event.
public struct ServerSentEvent: Sendable, Equatable {
    /// Event type: `frame` or `end`.
    public var name: String
    /// Event id (the frame index for `frame` events).
    public var id: Int?
    /// JSON payload (one line).
    public var data: String

    public init(name: String, id: Int? = nil, data: String) {
        self.name = name
        self.id = id
        self.data = data
    }

    /// The wire form: `event:`, `id:`, `data:` lines and a blank line.
    public var text: String {
        var text = "event: \(name)\n"
        if let id { text += "id: \(id)\n" }
        text += "data: \(data)\n\n"
        return text
    }
}

/// Subscribers and recent history of one job's events. Thread-safe.
public final class JobEventHub: @unchecked Sendable {  // mutable state behind `lock`
    public static let historyLimit = 2048
    /// Events a slow subscriber may lag behind before the oldest are dropped.
    static let subscriberBuffer = 8192

    private let lock = NSLock()
    private var history: [ServerSentEvent] = []
    private var historyStart = 0
    private var subscribers: [UUID: AsyncStream<ServerSentEvent>.Continuation] = [:]
    private var endEvent: ServerSentEvent?
    private var closed = false

    public init() {}

    /// Sends `event` to every subscriber (frame events are also kept in the history).
    public func publish(_ event: ServerSentEvent) {
        lock.lock()
        guard !closed else { lock.unlock(); return }
        history.append(event)
        if history.count - historyStart > Self.historyLimit {
            historyStart += 1
            if historyStart > Self.historyLimit {
                history.removeFirst(historyStart)
                historyStart = 0
            }
        }
        let targets = Array(subscribers.values)
        lock.unlock()
        for continuation in targets { continuation.yield(event) }
    }

    /// Sends `end` (if given) and closes every stream; later subscribers get `end` at once.
    public func finish(with end: ServerSentEvent?) {
        lock.lock()
        guard !closed else { lock.unlock(); return }
        closed = true
        endEvent = end
        let targets = Array(subscribers.values)
        subscribers.removeAll()
        lock.unlock()
        for continuation in targets {
            if let end { continuation.yield(end) }
            continuation.finish()
        }
    }

    /// Number of open subscriptions.
    public var subscriberCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return subscribers.count
    }

    /// A stream of the kept events with id > `afterID` (all kept ones when nil), then live events.
    public func subscribe(afterID: Int? = nil) -> AsyncStream<ServerSentEvent> {
        let (stream, continuation) = AsyncStream<ServerSentEvent>.makeStream(
            bufferingPolicy: .bufferingNewest(Self.subscriberBuffer))
        let key = UUID()
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            self.lock.lock()
            self.subscribers[key] = nil
            self.lock.unlock()
        }
        lock.lock()
        for event in history[historyStart...] where afterID == nil || (event.id ?? Int.min) > afterID! {
            continuation.yield(event)
        }
        if closed {
            lock.unlock()
            if let endEvent { continuation.yield(endEvent) }
            continuation.finish()
            return stream
        }
        subscribers[key] = continuation
        lock.unlock()
        return stream
    }
}
