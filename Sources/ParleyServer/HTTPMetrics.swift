import Foundation
import Prometheus

/// The Prometheus registry of one Parley instance and the metrics it records.
public final class ParleyMetrics: Sendable {
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
