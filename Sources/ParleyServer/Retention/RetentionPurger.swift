import Foundation
import Logging
import ParleyCore
import ServiceLifecycle

/// Removes every tenant's messages older than its retention: the tenant's `retention.days` flag,
/// else `retention.days` of the configuration; 0 keeps everything. What `parley purge` and the
/// background job of `parley serve` both run.
public struct RetentionPurger: Sendable {
    let tenants: @Sendable () async throws -> [TenantID]
    /// The tenant's store as requests use it (through the context cache, which a purge clears).
    let store: @Sendable (TenantID) async throws -> any TenantStore
    let flags: FlagService
    let defaultDays: Int
    let now: @Sendable () -> Date
    /// Where the audit event of a purge goes (the queue in a server; the log itself from the CLI).
    let record: @Sendable (AuditEvent) async -> Void
    let metrics: ParleyMetrics?

    public init(
        tenants: @escaping @Sendable () async throws -> [TenantID], store: @escaping @Sendable (TenantID) async throws -> any TenantStore,
        flags: FlagService, defaultDays: Int, now: @escaping @Sendable () -> Date = Date.init,
        record: @escaping @Sendable (AuditEvent) async -> Void, metrics: ParleyMetrics? = nil
    ) {
        self.tenants = tenants
        self.store = store
        self.flags = flags
        self.defaultDays = defaultDays
        self.now = now
        self.record = record
        self.metrics = metrics
    }

    /// One tenant's purge: `report` is nil when the tenant keeps everything.
    public struct Outcome: Sendable {
        public let tenant: TenantID
        public let days: Int
        public let cutoff: Date?
        public let report: PurgeReport?
        public let dryRun: Bool

        /// One line for `parley purge`.
        public var summary: String {
            guard let report, let cutoff else { return "\(tenant): keeps everything (retention.days = 0)" }
            if report.skipped { return "\(tenant): skipped, another process is purging it" }
            let verb = dryRun ? "would remove" : "removed"
            return "\(tenant): \(verb) \(report.messages) messages, \(report.conversations) conversations, \(report.feedback) feedback"
                + " older than \(cutoff.formatted(.iso8601)) (\(days) days)"
        }
    }

    public func purge(_ tenant: TenantID, dryRun: Bool) async throws -> Outcome {
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
                    for outcome in try await purger.purgeAll(dryRun: false) {
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
