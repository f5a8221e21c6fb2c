import Foundation
import ParleyAudit
import Prometheus

/// The Prometheus registry of one Parley instance and the metrics it records.
public final class ParleyMetrics: AuditMetrics {
    public let registry = PrometheusCollectorRegistry()

    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    public init() {}

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
        registry.makeCounter(
            descriptor: Self.requests, labels: [("method", method), ("route", route), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.latency, labels: [("method", method), ("route", route)], buckets: Self.latencyBuckets
        ).record(duration)
    }

    func recordToolCall(name: String, ok: Bool) {
        registry.makeCounter(descriptor: Self.toolCalls, labels: [("tool", name), ("outcome", ok ? "ok" : "error")])
            .increment()
    }

    func recordReply(model: String, fallback: Bool) {
        registry.makeCounter(
            descriptor: Self.replies, labels: [("model", model), ("fallback", fallback ? "true" : "false")]
        ).increment()
    }

    func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}
