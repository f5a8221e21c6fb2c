import Foundation
import Logging
import NIOCore
import ParleyCore
import Synchronization

/// The names Parley's audit queue uses in Redis.
public enum RedisAuditKeys {
    /// The queue: one entry per event, `event` = the event as JSON.
    public static let stream = "parley:audit"
    /// Events that could not be stored after `maxDeliveries` tries (or could not be read at all),
    /// with `reason` and `source` (the queue entry's id); an admin lists and replays them.
    public static let deadLetters = "parley:audit:dead"
    /// The consumer group every worker of every replica reads in.
    public static let group = "writers"
}

/// JSON as Parley keeps it in Redis: times in milliseconds (the audit chain covers
/// milliseconds; ISO 8601 would drop them).
enum RedisJSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }()
}

/// Audit events as they travel through the stream.
enum AuditWireFormat {
    static func encode(_ event: AuditEvent) -> String {
        (try? String(decoding: RedisJSON.encoder.encode(event), as: UTF8.self)) ?? "{}"
    }

    static func decode(_ text: String?) -> AuditEvent? {
        text.flatMap { try? RedisJSON.decoder.decode(AuditEvent.self, from: Data($0.utf8)) }
    }
}

/// The publishing side of the audit queue on a Redis Stream.
///
/// `publish` never waits: it gives the event an id and puts it in an outbox, which `run` sends
/// to the stream in pipelined batches. While Redis is down the outbox holds the events and `run`
/// retries with back-off; when Redis is back they go out in order. What the outbox cannot hold,
/// and what is still in it at shutdown after a last attempt, goes to `spill` (the caller writes
/// it straight to the audit logs), so nothing published is dropped.
public final class RedisAuditStream: AuditQueue {
    private struct Outbox {
        var events: [AuditEvent] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    private let client: any RedisClient
    private let capacity: Int
    private let spill: @Sendable ([AuditEvent]) async -> Void
    private let logger: Logger
    private let outbox = Mutex(Outbox())
    private let overflow = Mutex<[AuditEvent]>([])

    public init(
        client: any RedisClient, capacity: Int = 100_000, logger: Logger, spill: @escaping @Sendable ([AuditEvent]) async -> Void
    ) {
        self.client = client
        self.capacity = capacity
        self.spill = spill
        self.logger = logger
    }

    public func publish(_ event: AuditEvent) {
        var event = event
        if event.id == nil { event.id = UUID.random().uuidString.lowercased() }
        let waiter = outbox.withLock { outbox -> CheckedContinuation<Void, Never>? in
            guard outbox.events.count < capacity, !outbox.finished else {
                overflow.withLock { $0.append(event) }
                return outbox.waiter.take()
            }
            outbox.events.append(event)
            return outbox.waiter.take()
        }
        waiter?.resume()
    }

    public var depth: Int { outbox.withLock { $0.events.count } }

    /// Sends the outbox to Redis until `finish`; then makes a last attempt (bounded by
    /// `drainTimeout`) and spills what is left.
    public func run(drainTimeout: Duration = .seconds(5)) async {
        var delay: Duration = .milliseconds(250)
        var drainDeadline: ContinuousClock.Instant?
        while true {
            let spilled = overflow.withLock { overflow -> [AuditEvent] in
                defer { overflow.removeAll() }
                return overflow
            }
            if !spilled.isEmpty {
                logger.error("the audit outbox is full; events are written to storage directly", metadata: ["count": "\(spilled.count)"])
                await spill(spilled)
            }
            let (batch, finished) = outbox.withLock { ($0.events.prefix(200), $0.finished) }
            if finished, drainDeadline == nil { drainDeadline = .now + drainTimeout }
            if batch.isEmpty {
                if finished { return }
                await waitForEvents()
                continue
            }
            do {
                let commands = batch.map { event in
                    RESPCommand("XADD", .string(RedisAuditKeys.stream), "*", "event", .string(AuditWireFormat.encode(event)))
                }
                let replies = try await client.pipeline(commands, timeout: nil)
                if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                    throw RedisClientError.unexpectedReply(command: "XADD", reply: "\(failure)")
                }
                outbox.withLock { $0.events.removeFirst(batch.count) }
                delay = .milliseconds(250)
            } catch {
                // A batch whose XADDs may partly have run is sent again: the worker stores each
                // event id once, so a second copy costs nothing.
                if let drainDeadline, ContinuousClock.now >= drainDeadline {
                    let left = outbox.withLock { outbox -> [AuditEvent] in
                        defer { outbox.events.removeAll() }
                        return outbox.events
                    }
                    logger.error(
                        "Redis is unavailable at shutdown; queued audit events are written to storage directly",
                        metadata: ["count": "\(left.count)", "error": "\(error)"])
                    await spill(left)
                    return
                }
                logger.warning("cannot queue audit events in Redis; retrying", metadata: ["error": "\(error)", "queued": "\(depth)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Ends publishing: `run` sends what is queued and returns.
    public func finish() {
        let waiter = outbox.withLock { outbox -> CheckedContinuation<Void, Never>? in
            outbox.finished = true
            return outbox.waiter.take()
        }
        waiter?.resume()
    }

    private func waitForEvents() async {
        await withCheckedContinuation { continuation in
            let resumeNow = outbox.withLock { outbox -> Bool in
                if !outbox.events.isEmpty || outbox.finished { return true }
                outbox.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}

extension Optional {
    /// The value, leaving `nil` behind.
    fileprivate mutating func take() -> Wrapped? {
        defer { self = nil }
        return self
    }
}
