import Foundation
import Logging
import OTel
import ParleyCore
import ServiceLifecycle
import Tracing

/// Sets up a process's logs and traces, once, before anything logs or traces: JSON lines on
/// stdout and, when an OTLP endpoint is configured, the process-wide tracer, with the trace and
/// span ids of the current request in every log line written inside it.
///
/// Returns the logger and the span exporter's service, which must run with the application
/// (`buildApplication(services:logger:surface:tracing:)`) so that spans are sent, and flushed at shutdown.
public func bootstrapObservability(_ configuration: ParleyConfiguration, label: String) throws -> (Logger, (any Service)?) {
    let level = configuration.logLevel
    let settings = configuration.telemetry
    Telemetry.setCapturesContent(settings.enabled && settings.captureContent)
    guard settings.enabled else {
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        var logger = Logger(label: label)
        logger.logLevel = level
        return (logger, nil)
    }
    LoggingSystem.bootstrap({ label, provider in JSONLogHandler(label: label, level: level, metadataProvider: provider) },
        metadataProvider: OTel.makeLoggingMetadataProvider())
    var logger = Logger(label: label)
    logger.logLevel = level

    var otel = OTel.Configuration.default
    otel.serviceName = settings.serviceName
    otel.resourceAttributes["service.version"] = ParleyBuild.version
    otel.diagnosticLogger = .custom(logger)
    otel.propagators = [.traceContext]
    otel.logs.enabled = false
    otel.metrics.enabled = false  // Prometheus serves Parley's metrics
    otel.traces.enabled = true
    otel.traces.exporter = .otlp
    otel.traces.otlpExporter.protocol = .httpProtobuf
    if let endpoint = settings.endpoint {
        otel.traces.otlpExporter.endpoint = (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces"
    }
    if !settings.headers.isEmpty { otel.traces.otlpExporter.headers = settings.headers }
    // A caller's sampling decision (its traceparent) is followed; new traces are sampled by ratio.
    if let sampler = OTel.Configuration.TracesConfiguration.SamplerConfiguration.parentBasedTraceIDRatio(ratio: settings.samplingRatio) {
        otel.traces.sampler = sampler
    }
    let backend = try OTel.makeTracingBackend(configuration: otel)
    InstrumentationSystem.bootstrap(backend.factory)
    logger.info(
        "tracing on", metadata: ["endpoint": "\(settings.endpoint ?? "from OTEL_* variables")", "service": "\(settings.serviceName)"])
    return (logger, backend.service)
}
