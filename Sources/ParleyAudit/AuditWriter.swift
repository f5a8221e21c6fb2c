import Foundation
import Logging
import ParleyCore
import Synchronization

/// Stores audit events in the audit logs: each event in its tenant's log (the system log when
/// it has no tenant, or its tenant has no storage). Order is kept within each log, which is what
/// the hash chain covers.
public struct AuditWriter: Sendable {
    static let attempts = 5

    /// The dead-letter file's lines: the events as the API shows them (ISO 8601 times, sorted keys).
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    let stores: any TenantStoreProvider
    let control: any ControlStore
    let deadLetterURL: URL
    let metrics: any AuditMetrics
    let logger: Logger
    /// Set when shutdown's time for storing events is up: what is left goes to the dead-letter file.
    private let retriesAbandoned = Box()

    private final class Box: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// From now on `write` stores nothing more: every batch goes straight to the dead-letter file
    /// (shutdown's bound when the database does not answer).
    public func abandonRetries() {
        retriesAbandoned.value.store(true, ordering: .relaxed)
    }

    public init(
        stores: any TenantStoreProvider, control: any ControlStore, deadLetterURL: URL, metrics: any AuditMetrics, logger: Logger
    ) {
        self.stores = stores
        self.control = control
        self.deadLetterURL = deadLetterURL
        self.metrics = metrics
        self.logger = logger
    }

    /// One attempt for events of one tenant (the Redis worker retries through redelivery).
    public func append(_ events: [AuditEvent]) async throws {
        guard let first = events.first else { return }
        _ = try await log(for: first.tenant).append(events)
        metrics.recordAuditWritten(events.count)
    }

    /// Every event of `batch`, retrying a failed write with back-off; what still fails goes to
    /// the dead-letter file so that it is never silently dropped.
    public func write(_ batch: [AuditEvent]) async {
        for events in Self.byTenant(batch) {
            var delay: Duration = .milliseconds(50)
            for attempt in 1...Self.attempts {
                if retriesAbandoned.value.load(ordering: .relaxed) {
                    logger.error(
                        "shutdown: audit events not stored in time; written to the dead-letter file",
                        metadata: ["count": "\(events.count)", "file": "\(deadLetterURL.path)"])
                    deadLetter(events)
                    break
                }
                do {
                    try await append(events)
                    break
                } catch {
                    if attempt == Self.attempts {
                        logger.error(
                            "audit events could not be stored; written to the dead-letter file",
                            metadata: ["count": "\(events.count)", "error": "\(error)", "file": "\(deadLetterURL.path)"])
                        deadLetter(events)
                        break
                    }
                    await backOff(delay)
                    delay *= 4
                }
            }
        }
    }

    /// Waits `delay` before the next attempt, but no longer once retries are abandoned.
    private func backOff(_ delay: Duration) async {
        let until = ContinuousClock.now + delay
        while ContinuousClock.now < until, !retriesAbandoned.value.load(ordering: .relaxed) {
            guard (try? await Task.sleep(for: min(.milliseconds(50), until - .now))) != nil else { return }
        }
    }

    static func byTenant(_ batch: [AuditEvent]) -> [[AuditEvent]] {
        var groups: [TenantID?: [AuditEvent]] = [:]
        var order: [TenantID?] = []
        for event in batch {
            if groups[event.tenant] == nil { order.append(event.tenant) }
            groups[event.tenant, default: []].append(event)
        }
        return order.map { groups[$0] ?? [] }
    }

    private func log(for tenant: TenantID?) async throws -> any AuditLogRepository {
        guard let tenant else { return control.systemAudit }
        do {
            return try await stores.store(for: tenant, provisioning: .existingOnly).audit
        } catch ParleyError.notFound {
            return control.systemAudit
        }
    }

    /// Appends the events as JSON lines for the operator: nothing acknowledged is dropped silently.
    private func deadLetter(_ events: [AuditEvent]) {
        metrics.recordAuditDeadLetters(events.count)
        var lines = Data()
        for event in events {
            guard let line = try? Self.encoder.encode(event) else { continue }
            lines.append(line)
            lines.append(0x0A)
        }
        if !FileManager.default.fileExists(atPath: deadLetterURL.path) {
            _ = FileManager.default.createFile(atPath: deadLetterURL.path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        guard let handle = try? FileHandle(forWritingTo: deadLetterURL) else {
            logger.critical("cannot open the audit dead-letter file", metadata: ["file": "\(deadLetterURL.path)"])
            return
        }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: lines)
    }
}
