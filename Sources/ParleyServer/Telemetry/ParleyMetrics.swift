import Foundation
import ParleyAudit
import ParleyCore
import Prometheus
import Synchronization

/// The Prometheus registry of one Parley instance and the metrics it records. Label values are
/// bounded: routes (not paths), configured provider and issuer names, tool names, policies; never
/// users, and tenants only on the budget gauge of tenants an operator gave a budget.
public final class ParleyMetrics: AuditMetrics {
    public let registry = PrometheusCollectorRegistry()
    /// Read at every scrape: the state of pools, breakers and queues, as gauges.
    private let collectors = Mutex<[@Sendable (ParleyMetrics) -> Void]>([])
    /// Totals kept elsewhere (a pool's error count), last seen at a scrape, by metric and labels.
    private let reportedTotals = Mutex<[String: Int]>([:])

    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    public init() {
        registry.makeGauge(descriptor: Self.buildInfo, labels: [("version", ParleyBuild.version)]).set(1.0)
        // Zero from the start, so that `increase()` sees the first one.
        for counter in [Self.auditWritten, Self.auditDeadLetters, Self.authFailures, Self.limiterFailures] {
            _ = registry.makeCounter(descriptor: counter)
        }
        registry.makeGauge(descriptor: Self.auditDepth).set(0.0)
        for kind in ["messages", "conversations", "feedback", "audit_events"] {
            _ = registry.makeCounter(descriptor: Self.purged, labels: [("kind", kind)])
        }
        for kind in BudgetKind.allCases {
            _ = registry.makeCounter(descriptor: Self.budgetWarnings, labels: [("budget", kind.rawValue)])
            for action in BudgetExhaustedAction.allCases {
                _ = registry.makeCounter(descriptor: Self.budgetExhausted, labels: [("budget", kind.rawValue), ("action", action.rawValue)])
            }
        }
    }

    /// The series recorded on every request, by metric and label values: the registry's own
    /// lookup builds and validates the metric's full name and takes its lock each time.
    private struct Series: Hashable {
        var metric: String
        var labels: [String]
    }
    private let counters = Mutex<[Series: Counter]>([:])
    private let histograms = Mutex<[Series: DurationHistogram]>([:])

    private func counter(_ descriptor: MetricNameDescriptor, _ labels: [(String, String)]) -> Counter {
        let series = Series(metric: descriptor.metricName, labels: labels.map(\.1))
        if let known = counters.withLock({ $0[series] }) { return known }
        let made = registry.makeCounter(descriptor: descriptor, labels: labels)
        counters.withLock { $0[series] = made }
        return made
    }

    private func histogram(_ descriptor: MetricNameDescriptor, _ labels: [(String, String)], buckets: [Duration]) -> DurationHistogram {
        let series = Series(metric: descriptor.metricName, labels: labels.map(\.1))
        if let known = histograms.withLock({ $0[series] }) { return known }
        let made = registry.makeDurationHistogram(descriptor: descriptor, labels: labels, buckets: buckets)
        histograms.withLock { $0[series] = made }
        return made
    }

    /// Runs `collect` before every scrape, to set gauges from the live state of a component.
    func addCollector(_ collect: @escaping @Sendable (ParleyMetrics) -> Void) {
        collectors.withLock { $0.append(collect) }
    }

    static var requests: MetricNameDescriptor {
        .init(metricName: "parley_http_requests", unitName: "total", helpText: "HTTP requests by method, route and status")
    }
    static var latency: MetricNameDescriptor {
        .init(metricName: "parley_http_request_duration", unitName: "seconds", helpText: "HTTP request latency by method and route")
    }
    static var toolCalls: MetricNameDescriptor {
        .init(metricName: "parley_tool_calls", unitName: "total", helpText: "Tool calls made by the agent, by tool and outcome")
    }
    static var replies: MetricNameDescriptor {
        .init(metricName: "parley_chat_replies", unitName: "total", helpText: "Chat replies by model and whether a fallback answered")
    }

    static var authFailures: MetricNameDescriptor {
        .init(metricName: "parley_auth_failures", unitName: "total", helpText: "Refused bearer tokens")
    }
    static var rateLimited: MetricNameDescriptor {
        .init(metricName: "parley_rate_limited", unitName: "total", helpText: "Requests refused by a rate limit, by policy")
    }
    static var limiterFailures: MetricNameDescriptor {
        .init(metricName: "parley_rate_limiter_failures", unitName: "total", helpText: "Rate-limit checks that could not be made")
    }
    static var auditDepth: MetricNameDescriptor {
        .init(metricName: "parley_audit_queue", unitName: "events", helpText: "Audit events waiting to be written")
    }
    static var auditWritten: MetricNameDescriptor {
        .init(metricName: "parley_audit_events_written", unitName: "total", helpText: "Audit events stored")
    }
    static var auditDeadLetters: MetricNameDescriptor {
        .init(metricName: "parley_audit_dead_letters", unitName: "total", helpText: "Audit events that could not be stored and went to the dead-letter file")
    }

    static var modelFallbacks: MetricNameDescriptor {
        .init(metricName: "parley_model_fallbacks", unitName: "total", helpText: "Model providers passed over, by provider and reason")
    }

    static var buildInfo: MetricNameDescriptor {
        .init(metricName: "parley_build_info", unitName: "", helpText: "Always 1; the version of the running build is its label")
    }
    static var ready: MetricNameDescriptor {
        .init(metricName: "parley_ready", unitName: "", helpText: "1 when the last readiness check passed, 0 when it failed")
    }
    static var modelCalls: MetricNameDescriptor {
        .init(metricName: "parley_model_calls", unitName: "total", helpText: "Calls to model providers by provider, model and outcome (ok or why it failed)")
    }
    static var modelCallDuration: MetricNameDescriptor {
        .init(metricName: "parley_model_call_duration", unitName: "seconds", helpText: "Model call latency by provider, answered or not")
    }
    static var timeToFirstToken: MetricNameDescriptor {
        .init(metricName: "parley_model_time_to_first_token", unitName: "seconds", helpText: "Streamed model calls: time to the first piece of text, by provider")
    }
    static var modelTokens: MetricNameDescriptor {
        .init(metricName: "parley_model_tokens", unitName: "total", helpText: "Tokens the providers counted, by provider, model and type (input or output)")
    }
    static var providerCoolingDown: MetricNameDescriptor {
        .init(metricName: "parley_model_provider_cooling_down", unitName: "", helpText: "1 while a provider is skipped after repeated failures")
    }
    static var toolCallDuration: MetricNameDescriptor {
        .init(metricName: "parley_tool_call_duration", unitName: "seconds", helpText: "Tool call latency by tool")
    }
    static var jwksFailures: MetricNameDescriptor {
        .init(metricName: "parley_jwks_fetch_failures", unitName: "total", helpText: "Failed fetches of an issuer's discovery document or keys, by issuer")
    }
    static var databaseInFlight: MetricNameDescriptor {
        .init(metricName: "parley_database_operations_in_flight", unitName: "", helpText: "Store operations holding or waiting for a pooled connection")
    }
    static var databasePoolMax: MetricNameDescriptor {
        .init(metricName: "parley_database_pool_connections_max", unitName: "", helpText: "Connections the pool may open (database.poolSize)")
    }
    static var databaseErrors: MetricNameDescriptor {
        .init(metricName: "parley_database_errors", unitName: "total", helpText: "Store operations that failed because the database was unavailable or too slow")
    }
    static var redisOpen: MetricNameDescriptor {
        .init(metricName: "parley_redis_connections_open", unitName: "", helpText: "Open connections of the Redis pool")
    }
    static var redisPoolSize: MetricNameDescriptor {
        .init(metricName: "parley_redis_pool_connections", unitName: "", helpText: "Connections the Redis pool keeps (redis.poolSize)")
    }
    static var redisErrors: MetricNameDescriptor {
        .init(metricName: "parley_redis_errors", unitName: "total", helpText: "Redis commands that failed (unreachable, timed out, refused)")
    }

    static var purged: MetricNameDescriptor {
        .init(metricName: "parley_retention_purged", unitName: "total", helpText: "What retention removed, by kind (messages, conversations, feedback)")
    }

    /// One tenant's retention purge.
    static var budgetExhausted: MetricNameDescriptor {
        .init(
            metricName: "parley_budget_exhausted", unitName: "total",
            helpText: "Model calls refused because a monthly budget was spent, by budget and what the turn did instead")
    }
    static var budgetWarnings: MetricNameDescriptor {
        .init(metricName: "parley_budget_warnings", unitName: "total", helpText: "Tenants that reached budget.warnPercent of a monthly budget")
    }

    func recordBudgetExhausted(_ kind: BudgetKind, action: BudgetExhaustedAction) {
        registry.makeCounter(descriptor: Self.budgetExhausted, labels: [("budget", kind.rawValue), ("action", action.rawValue)]).increment()
    }

    static var budgetRemaining: MetricNameDescriptor {
        .init(
            metricName: "parley_budget_remaining", unitName: "",
            helpText: "What is left of a tenant's monthly budget as this instance last saw it (tenants with a budget only)")
    }

    /// The one series with a tenant label: only tenants the operator gave a budget have it.
    func setBudgetRemaining(_ remaining: Int, tenant: TenantID, kind: BudgetKind) {
        registry.makeGauge(descriptor: Self.budgetRemaining, labels: [("tenant", tenant.rawValue), ("budget", kind.rawValue)])
            .set(Double(max(0, remaining)))
    }

    func recordBudgetWarning(_ kind: BudgetKind) {
        registry.makeCounter(descriptor: Self.budgetWarnings, labels: [("budget", kind.rawValue)]).increment()
    }

    func recordAuditPurge(_ events: Int) {
        registry.makeCounter(descriptor: Self.purged, labels: [("kind", "audit_events")]).increment(by: Int64(events))
    }

    func recordPurge(_ report: PurgeReport) {
        for (kind, count) in [("messages", report.messages), ("conversations", report.conversations), ("feedback", report.feedback)] {
            registry.makeCounter(descriptor: Self.purged, labels: [("kind", kind)]).increment(by: Int64(count))
        }
    }

    static let modelLatencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    /// One call to a model provider.
    func recordModelCall(_ call: ModelCallRecord) {
        counter(Self.modelCalls, [("provider", call.provider), ("model", call.requestModel), ("outcome", call.outcome)]).increment()
        histogram(Self.modelCallDuration, [("provider", call.provider)], buckets: Self.modelLatencyBuckets).record(call.duration)
        if let first = call.timeToFirstToken {
            histogram(Self.timeToFirstToken, [("provider", call.provider)], buckets: Self.modelLatencyBuckets).record(first)
        }
        for (type, count) in [("input", call.inputTokens), ("output", call.outputTokens)] {
            guard let count, count > 0 else { continue }
            counter(Self.modelTokens, [("provider", call.provider), ("model", call.requestModel), ("type", type)]).increment(by: Int64(count))
        }
    }

    /// Series that exist from the start, so that `rate()` and alerts see a zero before the first event.
    func declareProvider(_ name: String, model: String) {
        _ = registry.makeCounter(descriptor: Self.modelCalls, labels: [("provider", name), ("model", model), ("outcome", "ok")])
        for type in ["input", "output"] {
            _ = registry.makeCounter(descriptor: Self.modelTokens, labels: [("provider", name), ("model", model), ("type", type)])
        }
        registry.makeGauge(descriptor: Self.providerCoolingDown, labels: [("provider", name)]).set(0.0)
    }

    func setProviderCoolingDown(_ name: String, _ coolingDown: Bool) {
        registry.makeGauge(descriptor: Self.providerCoolingDown, labels: [("provider", name)]).set(coolingDown ? 1.0 : 0.0)
    }

    func recordReadiness(_ ready: Bool) { registry.makeGauge(descriptor: Self.ready).set(ready ? 1.0 : 0.0) }

    func recordJWKSFetchFailure(issuer: String) {
        registry.makeCounter(descriptor: Self.jwksFailures, labels: [("issuer", issuer)]).increment()
    }

    func declareRateLimits(_ policies: [String]) {
        for policy in policies { _ = registry.makeCounter(descriptor: Self.rateLimited, labels: [("policy", policy)]) }
    }

    func declareIssuer(_ issuer: String) { _ = registry.makeCounter(descriptor: Self.jwksFailures, labels: [("issuer", issuer)]) }

    /// The PostgreSQL pool as it is now.
    func setDatabase(backend: String, inFlight: Int, maxConnections: Int, errors: Int) {
        registry.makeGauge(descriptor: Self.databaseInFlight, labels: [("backend", backend)]).set(Double(inFlight))
        registry.makeGauge(descriptor: Self.databasePoolMax, labels: [("backend", backend)]).set(Double(maxConnections))
        catchUp(registry.makeCounter(descriptor: Self.databaseErrors, labels: [("backend", backend)]), key: "database \(backend)", total: errors)
    }

    /// The Redis pool as it is now.
    func setRedis(open: Int, size: Int, errors: Int) {
        registry.makeGauge(descriptor: Self.redisOpen).set(Double(open))
        registry.makeGauge(descriptor: Self.redisPoolSize).set(Double(size))
        catchUp(registry.makeCounter(descriptor: Self.redisErrors), key: "redis", total: errors)
    }

    /// Brings `counter` up to a total counted elsewhere.
    private func catchUp(_ counter: Counter, key: String, total: Int) {
        let increase = reportedTotals.withLock { reported -> Int in
            defer { reported[key] = max(reported[key] ?? 0, total) }
            return total - (reported[key] ?? 0)
        }
        if increase > 0 { counter.increment(by: Int64(increase)) }
    }

    func recordModelFallback(provider: String, reason: String) {
        registry.makeCounter(descriptor: Self.modelFallbacks, labels: [("provider", provider), ("reason", reason)]).increment()
    }

    func recordAuthFailure() { registry.makeCounter(descriptor: Self.authFailures).increment() }

    func recordRateLimited(policy: String) {
        registry.makeCounter(descriptor: Self.rateLimited, labels: [("policy", policy)]).increment()
    }

    func recordRateLimiterFailure() { registry.makeCounter(descriptor: Self.limiterFailures).increment() }

    public func auditQueueDepth(_ depth: Int) { registry.makeGauge(descriptor: Self.auditDepth).set(Double(depth)) }

    public func recordAuditWritten(_ count: Int) { registry.makeCounter(descriptor: Self.auditWritten).increment(by: Int64(count)) }

    public func recordAuditDeadLetters(_ count: Int) { registry.makeCounter(descriptor: Self.auditDeadLetters).increment(by: Int64(count)) }

    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        counter(Self.requests, [("method", method), ("route", route), ("status", String(status))]).increment()
        histogram(Self.latency, [("method", method), ("route", route)], buckets: Self.latencyBuckets).record(duration)
    }

    func recordToolCall(name: String, ok: Bool, duration: Duration) {
        counter(Self.toolCalls, [("tool", name), ("outcome", ok ? "ok" : "error")]).increment()
        histogram(Self.toolCallDuration, [("tool", name)], buckets: Self.latencyBuckets).record(duration)
    }

    func recordReply(model: String, fallback: Bool) {
        counter(Self.replies, [("model", model), ("fallback", fallback ? "true" : "false")]).increment()
    }

    func render() -> [UInt8] {
        for collect in collectors.withLock({ $0 }) { collect(self) }
        return registry.emitToBuffer()
    }
}
