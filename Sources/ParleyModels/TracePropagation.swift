import Tracing

/// The W3C trace context of the current task where Parley passes it on itself: `params._meta` of
/// MCP requests, and the trace id that audit events and turn records carry. (HTTP requests carry
/// it without help: AsyncHTTPClient makes a client span and sends its `traceparent`.) With tracing
/// off (no instrument bootstrapped) every field is empty.
public enum TracePropagation {
    /// `traceparent` (and `tracestate`, baggage) of the current context; empty when untraced.
    public static func currentFields() -> [String: String] {
        guard let context = InstrumentationContext.current else { return [:] }
        var fields: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &fields, using: DictionaryInjector())
        return fields
    }

    /// The context a caller passed along (e.g. in MCP's `_meta`), or `nil` when it passed none.
    public static func context(from fields: [String: String]) -> InstrumentationContext? {
        guard fields["traceparent"] != nil else { return nil }
        var context = InstrumentationContext.topLevel
        InstrumentationSystem.instrument.extract(fields, into: &context, using: DictionaryExtractor())
        return context
    }

    /// The current trace's id (32 hex digits), from its `traceparent`; `nil` when untraced.
    public static func currentTraceID() -> String? {
        guard let parent = currentFields()["traceparent"] else { return nil }
        let parts = parent.split(separator: "-")
        guard parts.count >= 3, parts[1].utf8.count == 32 else { return nil }
        return String(parts[1])
    }

    struct DictionaryInjector: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    }

    struct DictionaryExtractor: Extractor {
        func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    }
}
