import Foundation
import Logging
import ParleyAgent
import ParleyCore
import ParleyModels
import ServiceLifecycle
import Synchronization

/// Counts every model call against its tenant's and user's monthly budgets.
///
/// A tenant with a limit has each call reserved in the ledger before the provider is called
/// (atomic there, so exact across replicas); a tenant without one only has its calls counted,
/// and those counts, like every call's tokens, are kept here and added to the ledger in one
/// write a second (`UsageFlushJob`), not one per call. Crossing `budget.warnPercent` of a
/// tenant's budget is an audit event and a metric, once.
public final class UsageMeter: Sendable {
    let ledger: any UsageLedger
    let settings: BudgetSettings
    let metrics: ParleyMetrics
    let record: @Sendable (AuditEvent) async -> Void
    let logger: Logger
    let now: @Sendable () -> Date

    private struct Pending {
        var deltas: [UsageMonth: [TenantID: [DeltaKey: UsageDelta]]] = [:]
        /// The token limit each tenant had when it last made a call, for the warning at the flush.
        var tokenLimits: [TenantID: Int] = [:]

        mutating func add(_ delta: UsageDelta, key: DeltaKey, tenant: TenantID, month: UsageMonth) {
            deltas[month, default: [:]][tenant, default: [:]][key, default: UsageDelta(user: delta.user, provider: delta.provider, model: delta.model)]
                .merge(delta)
        }
    }

    private struct DeltaKey: Hashable {
        let user: UserID
        let provider: String
        let model: String
    }

    private let pending = Mutex(Pending())
    /// One flush at a time: a flush waits for the one running, so when `flush()` returns every
    /// count made before it is in the ledger (a count taken by a flush is in neither place
    /// until that flush has written it).
    private let flushing = AsyncExclusion()

    public init(
        ledger: any UsageLedger, settings: BudgetSettings, metrics: ParleyMetrics, logger: Logger,
        now: @escaping @Sendable () -> Date = Date.init, record: @escaping @Sendable (AuditEvent) async -> Void
    ) {
        self.ledger = ledger
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.now = now
        self.record = record
    }

    /// The budget of one turn by `user` of `tenant`, whose flags are `flags`.
    func budget(tenant: TenantID, user: UserID, flags: FeatureFlags) -> TurnBudget {
        TurnBudget(
            admission: Admission(
                meter: self, tenant: tenant, user: user, limits: settings.limits(flags), action: settings.onExhausted(flags)),
            onExhausted: settings.onExhausted(flags))
    }

    /// Refuses a turn before it starts when the tenant's budget is spent and it refuses turns
    /// then (a streamed turn can still answer with a plain 429).
    func checkBeforeTurn(tenant: TenantID, user: UserID, flags: FeatureFlags) async throws {
        let limits = settings.limits(flags)
        guard !limits.isUnlimited, settings.onExhausted(flags) == .refuse else { return }
        let month = UsageMonth(containing: now())
        // The ledger's counts as they are (no flush on the chat path): the reservation is the exact check.
        let usage = try await ledger.usage(tenant: tenant, month: month)
        if let refusal = limits.refusal(tenant: usage.total, user: usage.users[user] ?? UsageCounts(), month: month) {
            metrics.recordBudgetExhausted(refusal.kind, action: .refuse)
            throw refusal
        }
    }

    /// The tenant's usage in `month`: what this replica counted is added to the ledger first, so
    /// the report holds every call made before it (other replicas' uncounted calls lag a second).
    func usage(tenant: TenantID, month: UsageMonth) async throws -> TenantUsage {
        await flush()
        var usage = try await ledger.usage(tenant: tenant, month: month)
        let waiting = pending.withLock { $0.deltas[month]?[tenant].map { Array($0.values) } ?? [] }
        for delta in waiting { usage.add(delta) }
        return usage
    }

    /// Removes an erased user's own counts: what is waiting is added first (the tenant's totals
    /// keep the user's calls), then the user's rows go.
    func forget(tenant: TenantID, user: UserID) async throws {
        await flush()
        try await ledger.forget(tenant: tenant, user: user)
    }

    /// Adds what is waiting to the ledger; what fails to be added waits for the next time.
    func flush() async {
        await flushing.acquire()
        defer { flushing.release() }
        let (batches, tokenLimits) = pending.withLock { pending in
            defer { pending.deltas = [:] }
            return (pending.deltas, pending.tokenLimits)
        }
        for (month, tenants) in batches {
            let deltas = tenants.mapValues { Array($0.values) }
            do {
                let totals = try await ledger.add(deltas, month: month)
                for (tenant, after) in totals {
                    guard let limit = tokenLimits[tenant] else { continue }
                    metrics.setBudgetRemaining(limit - after, tenant: tenant, kind: .tokens)
                    let added = deltas[tenant, default: []].reduce(0) { $0 + $1.inputTokens + $1.outputTokens }
                    await warnIfCrossed(.tokens, tenant: tenant, month: month, limit: limit, before: after - added, after: after)
                }
            } catch {
                logger.warning("model usage could not be stored; tried again in a second", metadata: ["error": "\(error)"])
                pending.withLock { pending in
                    for (tenant, waiting) in tenants {
                        for (key, delta) in waiting { pending.add(delta, key: key, tenant: tenant, month: month) }
                    }
                }
            }
        }
    }

    fileprivate func count(_ delta: UsageDelta, tenant: TenantID, month: UsageMonth, tokenLimit: Int?) {
        pending.withLock { pending in
            let key = DeltaKey(user: delta.user, provider: delta.provider, model: delta.model)
            pending.add(delta, key: key, tenant: tenant, month: month)
            pending.tokenLimits[tenant] = tokenLimit
        }
    }

    /// The warning, when this step took the tenant's use of `kind` from under the threshold to it.
    fileprivate func warnIfCrossed(_ kind: BudgetKind, tenant: TenantID, month: UsageMonth, limit: Int, before: Int, after: Int) async {
        let threshold = max(1, (limit * settings.warnPercent + 99) / 100)
        guard before < threshold, after >= threshold else { return }
        metrics.recordBudgetWarning(kind)
        logger.notice(
            "a tenant has used \(settings.warnPercent) % of its monthly model budget",
            metadata: ["tenant": "\(tenant)", "budget": "\(kind.rawValue)", "used": "\(after)", "limit": "\(limit)"])
        await record(
            AuditEvent(
                tenant: tenant, actor: "parley", action: "budget.warning", object: "budget:\(kind.rawValue)", outcome: .success,
                detail: "\(after) of \(limit) \(kind.rawValue) used in \(month) (warning at \(settings.warnPercent) %)"))
    }

    /// One turn's model calls: reserved one by one when the tenant has limits, counted after each.
    final class Admission: ModelCallAdmission {
        let meter: UsageMeter
        let tenant: TenantID
        let user: UserID
        let limits: BudgetLimits
        let action: BudgetExhaustedAction
        /// The month the current call was admitted in, and whether the ledger already counted it.
        private let admitted = Mutex<(month: UsageMonth, reserved: Bool)?>(nil)

        init(meter: UsageMeter, tenant: TenantID, user: UserID, limits: BudgetLimits, action: BudgetExhaustedAction) {
            self.meter = meter
            self.tenant = tenant
            self.user = user
            self.limits = limits
            self.action = action
        }

        func admit(_ provider: ModelProvider) async throws {
            let month = UsageMonth(containing: meter.now())
            guard !limits.isUnlimited else {
                admitted.withLock { $0 = (month, false) }
                return
            }
            let reservation: BudgetReservation
            do {
                reservation = try await meter.ledger.reserve(tenant: tenant, user: user, month: month, limits: limits)
            } catch {
                // The ledger is down: the call goes ahead (counted later) rather than the AI going
                // dark with it; the budget may be overrun by the calls made meanwhile.
                meter.logger.warning("the model budget could not be checked; the call goes ahead", metadata: ["error": "\(error)"])
                admitted.withLock { $0 = (month, false) }
                return
            }
            switch reservation {
            case .granted(let completions, _):
                admitted.withLock { $0 = (month, true) }
                if let limit = limits.completions {
                    meter.metrics.setBudgetRemaining(limit - completions, tenant: tenant, kind: .completions)
                    await meter.warnIfCrossed(
                        .completions, tenant: tenant, month: month, limit: limit, before: completions - 1, after: completions)
                }
            case .exhausted(let refusal):
                meter.metrics.recordBudgetExhausted(refusal.kind, action: action)
                if refusal.scope == .tenant { meter.metrics.setBudgetRemaining(0, tenant: tenant, kind: refusal.kind) }
                throw refusal
            }
        }

        func settle(_ provider: ModelProvider, inputTokens: Int, outputTokens: Int) {
            let (month, reserved) = admitted.withLock { state in
                defer { state = nil }
                return state ?? (UsageMonth(containing: meter.now()), false)
            }
            var delta = UsageDelta(user: user, provider: provider.name, model: provider.configuration.model)
            delta.uncountedCompletions = reserved ? 0 : 1
            delta.completions = 1
            delta.inputTokens = inputTokens
            delta.outputTokens = outputTokens
            meter.count(delta, tenant: tenant, month: month, tokenLimit: limits.tokens)
        }
    }
}

extension UsageDelta {
    mutating func merge(_ other: UsageDelta) {
        uncountedCompletions += other.uncountedCompletions
        completions += other.completions
        inputTokens += other.inputTokens
        outputTokens += other.outputTokens
    }
}

/// Adds the meter's counts to the ledger every second, and once more on shutdown.
struct UsageFlushJob: Service {
    let meter: UsageMeter
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { break }
                await meter.flush()
            }
        }
        await meter.flush()
    }
}

/// A lock held across suspension points, taken in turn: what `Mutex` cannot be.
final class AsyncExclusion: Sendable {
    private let state = Mutex<(held: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state in
                if state.held {
                    state.waiting.append(continuation)
                    return false
                }
                state.held = true
                return true
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.held = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
