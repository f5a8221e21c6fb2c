import Configuration
import Foundation

/// OpenTelemetry traces (OTLP over HTTP): off unless an endpoint is configured, by `otel.endpoint`
/// or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`. The other
/// standard `OTEL_*` variables (headers, sampler, batch sizes …) apply on top of these settings.
public struct TelemetrySettings: Sendable {
    /// The collector's base URL (`http://collector:4318`); spans go to `<endpoint>/v1/traces`.
    public var endpoint: String?
    /// Sent with every export, e.g. an API key of a hosted tracing service.
    public var headers: [(String, String)] = []
    public var serviceName = "parley"
    /// The share of new traces recorded (a caller's sampled `traceparent` is always followed).
    public var samplingRatio = 1.0
    /// Spans carry message text, tool arguments and results, pseudonymized. Off: counts and ids only.
    public var captureContent = false
    /// Set when the standard environment variables name an endpoint.
    var environmentEndpoint = false

    public init() {}

    public var enabled: Bool { endpoint != nil || environmentEndpoint }

    init(reader: ConfigReader, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        endpoint = reader.string(forKey: "otel.endpoint")
        if let endpoint {
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme), url.host != nil else {
                throw ConfigurationError(key: "otel.endpoint", reason: "must be the http(s) URL of an OTLP/HTTP receiver, e.g. http://127.0.0.1:4318")
            }
        }
        environmentEndpoint = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains {
            !(environment[$0] ?? "").isEmpty
        } && environment["OTEL_SDK_DISABLED"]?.lowercased() != "true"
        for pair in reader.stringArray(forKey: "otel.headers", default: []) {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw ConfigurationError(key: "otel.headers", reason: "each header must be name=value")
            }
            headers.append((String(pair[..<equals]).trimmingCharacters(in: .whitespaces), String(pair[pair.index(after: equals)...])))
        }
        serviceName = reader.string(forKey: "otel.serviceName", default: serviceName)
        guard !serviceName.isEmpty else { throw ConfigurationError(key: "otel.serviceName", reason: "must not be empty") }
        samplingRatio = reader.double(forKey: "otel.samplingRatio", default: samplingRatio)
        guard (0...1).contains(samplingRatio) else { throw ConfigurationError(key: "otel.samplingRatio", reason: "must be 0–1") }
        captureContent = reader.bool(forKey: "otel.captureContent", default: false)
    }
}
