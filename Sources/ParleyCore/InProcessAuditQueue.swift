import Synchronization

/// The audit queue of a single process: publishing never waits; one consumer (the audit
/// worker) takes events in order. Events still queued when the process dies are lost, which is
/// why several replicas use the Redis Stream instead.
public final class InProcessAuditQueue: AuditQueue {
    private struct State {
        var events: [AuditEvent] = []
        var head = 0
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false

        var count: Int { events.count - head }

        /// Takes up to `maxCount` events, compacting the buffer now and then.
        mutating func take(_ maxCount: Int) -> [AuditEvent] {
            let end = min(events.count, head + maxCount)
            let taken = Array(events[head..<end])
            head = end
            if head == events.count {
                events.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 1024 {
                events.removeFirst(head)
                head = 0
            }
            return taken
        }
    }

    private let state = Mutex(State())

    public init() {}

    public func publish(_ event: AuditEvent) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.finished else { return nil }
            state.events.append(event)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The next events, waiting while there are none; `nil` once the queue is finished and empty.
    public func next(maxCount: Int) async -> [AuditEvent]? {
        while true {
            enum Step { case events([AuditEvent]), done, wait }
            let step: Step = state.withLock { state in
                if state.count > 0 { return .events(state.take(maxCount)) }
                return state.finished ? .done : .wait
            }
            switch step {
            case .events(let events): return events
            case .done: return nil
            case .wait:
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        if state.count > 0 || state.finished { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    public var depth: Int { state.withLock { $0.count } }

    /// Ends the queue: `next` drains what is left, then returns `nil`.
    public func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
