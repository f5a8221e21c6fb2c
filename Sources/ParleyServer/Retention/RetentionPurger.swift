import Foundation
import Logging
import ParleyCore
import ServiceLifecycle

/// Removes every tenant's messages older than its retention: the tenant's `retention.days` flag,
/// else `retention.days` of the configuration; 0 keeps everything. Then audit events older than
/// `audit.retentionDays`, from each tenant's log and the system log, leaving a checkpoint the
/// chain is verified from. What `parley purge` and the background job of `parley serve` both run.
public struct RetentionPurger: Sendable {
    let tenants: @Sendable () async throws -> [TenantID]
    /// The tenant's store as requests use it (through the context cache, which a purge clears).
    let store: @Sendable (TenantID) async throws -> any TenantStore
    let flags: FlagService
    let defaultDays: Int
    /// Days audit events are kept; 0 keeps them all.
    let auditDays: Int
    /// The log of events without a tenant.
    let systemAudit: (any AuditLogRepository)?
    let now: @Sendable () -> Date
    /// Where the audit event of a purge goes (the queue in a server; the log itself from the CLI).
    let record: @Sendable (AuditEvent) async -> Void
    let metrics: ParleyMetrics?

    public init(
        tenants: @escaping @Sendable () async throws -> [TenantID], store: @escaping @Sendable (TenantID) async throws -> any TenantStore,
        flags: FlagService, defaultDays: Int, auditDays: Int = 0, systemAudit: (any AuditLogRepository)? = nil,
        now: @escaping @Sendable () -> Date = Date.init, record: @escaping @Sendable (AuditEvent) async -> Void, metrics: ParleyMetrics? = nil
    ) {
        self.tenants = tenants
        self.store = store
        self.flags = flags
        self.defaultDays = defaultDays
        self.auditDays = auditDays
        self.systemAudit = systemAudit
        self.now = now
        self.record = record
        self.metrics = metrics
    }

    /// One tenant's purge: `report` is nil when the tenant keeps every message, `audit` when
    /// every audit event is kept.
    public struct Outcome: Sendable {
        public let tenant: TenantID
        public let days: Int
        public let cutoff: Date?
        public let report: PurgeReport?
        public var audit: AuditPurgeReport? = nil
        public let dryRun: Bool

        /// One line for `parley purge`.
        public var summary: String {
            var line: String
            if let report, let cutoff {
                if report.skipped {
                    line = "\(tenant): messages skipped, another process is purging them"
                } else {
                    line = "\(tenant): \(dryRun ? "would remove" : "removed") \(report.messages) messages, \(report.conversations) conversations,"
                        + " \(report.feedback) feedback older than \(cutoff.formatted(.iso8601)) (\(days) days)"
                }
            } else {
                line = "\(tenant): keeps every message (retention.days = 0)"
            }
            if let audit { line += "; " + RetentionPurger.describe(audit, dryRun: dryRun) }
            return line
        }
    }

    /// "removed 12 audit events; the chain is verified from event 12", for `parley purge`.
    public static func describe(_ audit: AuditPurgeReport, dryRun: Bool) -> String {
        let checkpoint = audit.checkpoint.map { "; the chain is verified from event \($0.sequence + 1)" } ?? ""
        return "\(dryRun ? "would remove" : "removed") \(audit.purged) audit events\(checkpoint)"
    }

    /// When audit events are old enough to go, or `nil` when they are all kept.
    var auditCutoff: Date? { auditDays > 0 ? now().addingTimeInterval(-Double(auditDays) * 86_400) : nil }

    public func purge(_ tenant: TenantID, dryRun: Bool) async throws -> Outcome {
        var outcome = try await purgeMessages(tenant, dryRun: dryRun)
        if let cutoff = auditCutoff {
            let audit = try await store(tenant).audit.purge(before: cutoff, dryRun: dryRun)
            outcome.audit = audit
            await recordAuditPurge(audit, tenant: tenant, cutoff: cutoff, dryRun: dryRun)
        }
        return outcome
    }

    /// The system log's old events (it has no messages).
    public func purgeSystemAudit(dryRun: Bool) async throws -> AuditPurgeReport? {
        guard let cutoff = auditCutoff, let systemAudit else { return nil }
        let audit = try await systemAudit.purge(before: cutoff, dryRun: dryRun)
        await recordAuditPurge(audit, tenant: nil, cutoff: cutoff, dryRun: dryRun)
        return audit
    }

    /// The purge as an event in the same log: the checkpoint it left is itself chained, for an
    /// auditor to compare with the one the log starts from.
    private func recordAuditPurge(_ audit: AuditPurgeReport, tenant: TenantID?, cutoff: Date, dryRun: Bool) async {
        guard !dryRun, audit.purged > 0 else { return }
        metrics?.recordAuditPurge(audit.purged)
        let checkpoint = audit.checkpoint.map { " up to event \($0.sequence) (hash \($0.hash))" } ?? ""
        await record(
            AuditEvent(
                tenant: tenant, actor: "parley", action: "audit.purge", object: "audit:checkpoint", outcome: .success,
                detail: "\(audit.purged) events older than \(cutoff.formatted(.iso8601)) (\(auditDays) days)\(checkpoint)"))
    }

    private func purgeMessages(_ tenant: TenantID, dryRun: Bool) async throws -> Outcome {
        let days = try await flags.flags(for: tenant).retentionDays ?? defaultDays
        guard days > 0 else { return Outcome(tenant: tenant, days: 0, cutoff: nil, report: nil, dryRun: dryRun) }
        let cutoff = now().addingTimeInterval(-Double(days) * 86_400)
        let report = try await store(tenant).retention.purge(before: cutoff, dryRun: dryRun)
        if !dryRun, !report.skipped {
            metrics?.recordPurge(report)
            if report.messages > 0 || report.conversations > 0 {
                await record(
                    AuditEvent(
                        tenant: tenant, actor: "parley", action: "retention.purge", outcome: .success,
                        detail: "\(report.messages) messages, \(report.conversations) conversations, \(report.feedback) feedback"
                            + " older than \(cutoff.formatted(.iso8601)) (\(days) days)"))
            }
        }
        return Outcome(tenant: tenant, days: days, cutoff: cutoff, report: report, dryRun: dryRun)
    }

    /// Every tenant, or only `only`.
    public func purgeAll(only: TenantID? = nil, dryRun: Bool) async throws -> [Outcome] {
        var outcomes: [Outcome] = []
        let all: [TenantID]
        if let only { all = [only] } else { all = try await tenants() }
        for tenant in all {
            outcomes.append(try await purge(tenant, dryRun: dryRun))
        }
        return outcomes
    }
}

/// `parley serve`'s retention job: purges every tenant each `retention.intervalMinutes`, the first
/// time a minute after start. Replicas may all run it: a tenant being purged by one is skipped by
/// the others (PostgreSQL: a lock per tenant; SQLite has one process).
struct RetentionJob: Service {
    let purger: RetentionPurger
    let interval: Duration
    let firstRun: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var delay = firstRun
            while !Task.isCancelled {
                do { try await Task.sleep(for: delay) } catch { return }
                delay = interval
                do {
                    if let system = try await purger.purgeSystemAudit(dryRun: false), system.purged > 0 {
                        logger.info("audit retention purge", metadata: ["log": "system", "events": "\(system.purged)"])
                    }
                    for outcome in try await purger.purgeAll(dryRun: false) {
                        if let audit = outcome.audit, audit.purged > 0 {
                            logger.info("audit retention purge", metadata: ["tenant": "\(outcome.tenant)", "events": "\(audit.purged)"])
                        }
                        guard let report = outcome.report, report.messages > 0 || report.conversations > 0 else { continue }
                        logger.info(
                            "retention purge",
                            metadata: [
                                "tenant": "\(outcome.tenant)", "messages": "\(report.messages)", "conversations": "\(report.conversations)",
                                "feedback": "\(report.feedback)", "days": "\(outcome.days)",
                            ])
                    }
                } catch {
                    logger.warning("retention purge failed; tried again next time", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
