import Foundation

/// Something that happened and must be answerable for later: who did what to which object,
/// with what outcome, from where.
public struct AuditEvent: Sendable, Hashable, Codable {
    public enum Outcome: String, Sendable, Hashable, Codable, CaseIterable {
        case success
        /// Refused: bad credentials, a role or tenant not granted, a rate limit.
        case denied
        /// The object does not exist for this caller (which includes another user's objects).
        case notFound = "not_found"
        /// Refused as invalid input.
        case invalid
        case failed
    }

    public var time: Date
    /// `nil` for events before a tenant is known (a refused token).
    public var tenant: TenantID?
    /// The user id, or `anonymous`.
    public var actor: String
    /// `<object kind>.<verb>`, e.g. `task.update`, `auth.token`, `tenant.provision`.
    public var action: String
    /// `<kind>:<id>`, e.g. `task:3`.
    public var object: String?
    public var outcome: Outcome
    public var ip: String?
    public var requestID: String?
    /// The W3C trace id of the request, when it was traced: the audit event and the trace find each other.
    public var traceID: String?
    /// A short reason or summary; never message content.
    public var detail: String?
    /// Names the event across a queue that may deliver it twice (the Redis Stream): the audit
    /// log stores an id once. Not covered by the hash chain, which records what happened.
    public var id: String?

    public init(
        time: Date = Date(), tenant: TenantID?, actor: String, action: String, object: String? = nil,
        outcome: Outcome, ip: String? = nil, requestID: String? = nil, detail: String? = nil, id: String? = nil,
        traceID: String? = nil
    ) {
        self.traceID = traceID
        self.time = time
        self.tenant = tenant
        self.actor = actor
        self.action = action
        self.object = object
        self.outcome = outcome
        self.ip = ip
        self.requestID = requestID
        self.detail = detail
        self.id = id
    }

    enum CodingKeys: String, CodingKey {
        case time, tenant, actor, action, object, outcome, ip, detail
        case requestID = "request_id"
        case traceID = "trace_id"
        case id = "event_id"
    }
}

/// A stored event with its place in the tenant's hash chain.
public struct AuditRecord: Sendable, Hashable, Codable {
    public var sequence: Int
    public var event: AuditEvent
    public var previousHash: String
    public var hash: String

    public init(sequence: Int, event: AuditEvent, previousHash: String, hash: String) {
        self.sequence = sequence
        self.event = event
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The hash of the first event's predecessor.
    public static let genesisHash = String(repeating: "0", count: 64)
}

public struct AuditFilter: Sendable, Hashable {
    /// The LIKE pattern of every action under `prefix` (`task` → `task.%`), with `\` as the
    /// escape: a `_` or `%` in the name matches only itself.
    public static func likePrefix(_ prefix: String) -> String {
        prefix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + ".%"
    }

    public var action: String?
    public var actor: String?
    public var outcome: AuditEvent.Outcome?
    public var since: Date?
    public var until: Date?
    /// Only events with a sequence number below this (paging backwards).
    public var before: Int?
    /// Only events of these requests (`X-Request-ID`); empty: any request.
    public var requestIDs: [String]
    public var limit: Int

    public init(
        action: String? = nil, actor: String? = nil, outcome: AuditEvent.Outcome? = nil, since: Date? = nil,
        until: Date? = nil, before: Int? = nil, requestIDs: [String] = [], limit: Int = 100
    ) {
        self.requestIDs = requestIDs
        self.action = action
        self.actor = actor
        self.outcome = outcome
        self.since = since
        self.until = until
        self.before = before
        self.limit = limit
    }
}

/// What `parley audit verify` found.
public struct AuditChainReport: Sendable, Hashable {
    public var checked: Int
    /// The first record whose hash or link does not match, if any.
    public var firstBrokenSequence: Int?
    public var problem: String?
    /// Where the chain was verified from, when old events were purged.
    public var checkpoint: AuditCheckpoint?

    public init(checked: Int, firstBrokenSequence: Int? = nil, problem: String? = nil, checkpoint: AuditCheckpoint? = nil) {
        self.checked = checked
        self.firstBrokenSequence = firstBrokenSequence
        self.problem = problem
        self.checkpoint = checkpoint
    }

    public var isIntact: Bool { firstBrokenSequence == nil }
}

/// What is left of a log's purged beginning: the last purged event's sequence and hash, which
/// the first remaining event must link to, and how many events were purged in all.
public struct AuditCheckpoint: Sendable, Hashable {
    public var sequence: Int
    public var hash: String
    public var purged: Int

    public init(sequence: Int, hash: String, purged: Int) {
        self.sequence = sequence
        self.hash = hash
        self.purged = purged
    }
}

/// What an audit purge removed (with `dryRun`: would remove).
public struct AuditPurgeReport: Sendable, Hashable {
    public var purged = 0
    /// The checkpoint after the purge (before it, with `dryRun`).
    public var checkpoint: AuditCheckpoint?

    public init(purged: Int = 0, checkpoint: AuditCheckpoint? = nil) {
        self.purged = purged
        self.checkpoint = checkpoint
    }
}

/// One audit log: a tenant's, or the system log for events without a tenant.
public protocol AuditLogRepository: Sendable {
    /// Appends events in order, each chained to the hash of the one before. An event whose `id`
    /// is stored already is skipped (a redelivery), so the records returned may be fewer.
    func append(_ events: [AuditEvent]) async throws -> [AuditRecord]
    /// Newest first.
    func query(_ filter: AuditFilter) async throws -> [AuditRecord]
    /// Recomputes the chain from the first record, or from the checkpoint of a purge.
    func verifyChain() async throws -> AuditChainReport
    /// Deletes the oldest events, up to the last one older than `cutoff`, in batches, each
    /// committed with the checkpoint it leaves (the hash of the last event it deleted), so the
    /// chain verifies from there and an edited, inserted or deleted event after it is still
    /// found. The newest event always stays: the next one chains to it.
    func purge(before cutoff: Date, dryRun: Bool) async throws -> AuditPurgeReport
}

/// Where request handlers hand audit events, on their way to the audit logs: in process (one
/// replica), or a Redis Stream that workers of every replica drain.
public protocol AuditQueue: Sendable {
    /// Queues the event without waiting for storage.
    func publish(_ event: AuditEvent)
    /// Events published here and not yet passed on (to storage, or to Redis).
    var depth: Int { get }
}
