import Foundation
import Logging
import NIOCore
import ParleyCore

/// One audit worker: reads the audit stream in the consumer group, stores each tenant's events,
/// and acknowledges an entry only after its event is stored. Entries another worker took and
/// did not acknowledge (it died, or storage failed) are claimed after `claimIdle`; an entry
/// delivered `maxDeliveries` times without being stored moves to the dead-letter stream.
public struct RedisAuditConsumer: Sendable {
    public struct Settings: Sendable {
        /// How long an entry stays with a worker before another may claim it.
        public var claimIdle: Duration = .seconds(30)
        /// How often to look for such entries.
        public var claimInterval: Duration = .seconds(5)
        public var maxDeliveries = 5
        public var batchSize = 200
        /// Testing only: hold each batch this long before storing it (a kill lands mid-batch).
        public var writeDelay: Duration = .zero

        public init() {}
    }

    public let name: String
    let pool: RedisConnectionPool
    let settings: Settings
    let logger: Logger

    /// `name` must be unique among the workers: `<host>-<pid>-<random>` by default.
    public init(pool: RedisConnectionPool, name: String? = nil, settings: Settings = Settings(), logger: Logger) {
        self.pool = pool
        self.name = name ?? Self.defaultName()
        self.settings = settings
        self.logger = logger
    }

    public static func defaultName() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(6).lowercased())"
    }

    /// Works until the task is cancelled. `store` appends one tenant's events (in order) to its
    /// audit log, or throws; the log skips event ids it holds already.
    public func run(store: @escaping @Sendable ([AuditEvent]) async throws -> Void) async {
        var delay: Duration = .milliseconds(250)
        while !Task.isCancelled {
            do {
                // A connection of its own: reads block, and MULTI must not interleave with others.
                try await pool.withDedicatedConnection { connection in
                    try await connection.xgroupCreate(RedisAuditKeys.stream, group: RedisAuditKeys.group)
                    delay = .milliseconds(250)
                    try await work(on: connection, store: store)
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("audit worker lost Redis; retrying", metadata: ["error": "\(error)", "worker": "\(name)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    private func work(on connection: RedisConnection, store: @Sendable ([AuditEvent]) async throws -> Void) async throws {
        var nextClaim = ContinuousClock.now
        while !Task.isCancelled {
            if ContinuousClock.now >= nextClaim {
                var start = "0-0"
                repeat {
                    let claim = try await connection.xautoclaim(
                        RedisAuditKeys.stream, group: RedisAuditKeys.group, consumer: name, minIdle: settings.claimIdle,
                        start: start, count: settings.batchSize)
                    if !claim.entries.isEmpty {
                        logger.info("claimed audit events another worker left", metadata: ["count": "\(claim.entries.count)", "worker": "\(name)"])
                        try await process(claim.entries, on: connection, store: store)
                    }
                    start = claim.next
                } while start != "0-0" && !Task.isCancelled
                nextClaim = .now + settings.claimInterval
            }
            let wait = min(nextClaim - .now, .seconds(2))
            let entries = try await connection.xreadgroup(
                RedisAuditKeys.stream, group: RedisAuditKeys.group, consumer: name, count: settings.batchSize,
                block: max(wait, .milliseconds(10)))
            try await process(entries, on: connection, store: store)
        }
    }

    private func process(
        _ entries: [RedisStreamEntry], on connection: RedisConnection, store: @Sendable ([AuditEvent]) async throws -> Void
    ) async throws {
        guard !entries.isEmpty else { return }
        if settings.writeDelay > .zero { try await Task.sleep(for: settings.writeDelay) }
        var done: [String] = []
        var byTenant: [TenantID?: [(id: String, event: AuditEvent)]] = [:]
        var order: [TenantID?] = []
        for entry in entries {
            guard let fields = entry.fields else {
                done.append(entry.id)  // deleted while pending: nothing left to store
                continue
            }
            guard let event = AuditWireFormat.decode(fields["event"]) else {
                try await deadLetter(entry.id, event: fields["event"] ?? "", reason: "unreadable event", on: connection)
                continue
            }
            if byTenant[event.tenant] == nil { order.append(event.tenant) }
            byTenant[event.tenant, default: []].append((entry.id, event))
        }
        for tenant in order {
            let items = byTenant[tenant] ?? []
            do {
                try await store(items.map(\.event))
                done += items.map(\.id)
            } catch {
                logger.warning(
                    "audit events could not be stored; they stay queued", metadata: ["count": "\(items.count)", "error": "\(error)"])
                try await deadLetterExhausted(items, reason: "\(error)", on: connection)
            }
        }
        if !done.isEmpty {
            // Acknowledged only now that the events are stored; deleted so the stream stays short.
            _ = try await connection.pipeline(
                [
                    RESPCommand("XACK", arguments: [.string(RedisAuditKeys.stream), .string(RedisAuditKeys.group)] + done.map(RESPArgument.string)),
                    RESPCommand("XDEL", arguments: [.string(RedisAuditKeys.stream)] + done.map(RESPArgument.string)),
                ], timeout: nil)
        }
    }

    /// Moves the entries that were delivered `maxDeliveries` times to the dead-letter stream.
    private func deadLetterExhausted(_ items: [(id: String, event: AuditEvent)], reason: String, on connection: RedisConnection) async throws {
        for item in items {
            let pending = try await connection.xpending(
                RedisAuditKeys.stream, group: RedisAuditKeys.group, start: item.id, end: item.id, count: 1)
            guard let deliveries = pending.first?.deliveries, deliveries >= settings.maxDeliveries else { continue }
            try await deadLetter(item.id, event: AuditWireFormat.encode(item.event), reason: reason, on: connection)
            logger.error(
                "audit event moved to the dead-letter stream", metadata: ["entry": "\(item.id)", "deliveries": "\(deliveries)", "error": "\(reason)"])
        }
    }

    /// Atomically: into the dead-letter stream, out of the queue.
    private func deadLetter(_ id: String, event: String, reason: String, on connection: RedisConnection) async throws {
        let replies = try await connection.pipeline(
            [
                RESPCommand("MULTI"),
                RESPCommand(
                    "XADD", .string(RedisAuditKeys.deadLetters), "*", "event", .string(event), "reason", .string(String(reason.prefix(500))),
                    "source", .string(id)),
                RESPCommand("XACK", .string(RedisAuditKeys.stream), .string(RedisAuditKeys.group), .string(id)),
                RESPCommand("XDEL", .string(RedisAuditKeys.stream), .string(id)),
                RESPCommand("EXEC"),
            ], timeout: nil)
        guard let results = replies.last?.array, results.count == 3 else {
            throw RedisClientError.unexpectedReply(command: "EXEC", reply: "\(replies.last ?? .null)")
        }
    }
}

/// What an admin sees of the dead-letter stream, and how they put an event back.
public struct RedisAuditDeadLetters: Sendable {
    public struct Entry: Sendable {
        public var id: String
        public var event: AuditEvent?
        public var reason: String
        /// The raw event when it could not be read.
        public var raw: String
    }

    let pool: RedisConnectionPool

    public init(pool: RedisConnectionPool) {
        self.pool = pool
    }

    /// The oldest `limit` dead letters after `after`.
    public func list(after: String? = nil, limit: Int) async throws -> [Entry] {
        let start = after.map { "(" + $0 } ?? "-"
        return try await pool.xrange(RedisAuditKeys.deadLetters, start: start, count: limit).map { entry in
            let raw = entry.fields?["event"] ?? ""
            return Entry(id: entry.id, event: AuditWireFormat.decode(raw), reason: entry.fields?["reason"] ?? "", raw: raw)
        }
    }

    /// Puts the event back in the queue and removes the dead letter, atomically; `false` when
    /// there is no such dead letter. Replaying twice stores the event once (its id).
    public func replay(_ id: String) async throws -> Bool {
        try await pool.withDedicatedConnection { connection in
            let found = try await connection.xrange(RedisAuditKeys.deadLetters, start: id, end: id, count: 1)
            guard let event = found.first?.fields?["event"] else { return false }
            let replies = try await connection.pipeline(
                [
                    RESPCommand("MULTI"),
                    RESPCommand("XADD", .string(RedisAuditKeys.stream), "*", "event", .string(event)),
                    RESPCommand("XDEL", .string(RedisAuditKeys.deadLetters), .string(id)),
                    RESPCommand("EXEC"),
                ], timeout: nil)
            return replies.last?.array?.count == 2
        }
    }
}
