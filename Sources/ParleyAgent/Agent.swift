import Foundation
import ParleyCore
import ParleyPrivacy
import Synchronization
import Tracing

/// What an agent answered, and the tool calls it made to get there.
public struct AgentReply: Sendable, Hashable {
    public var text: String
    public var toolCalls: [ToolCallRecord]
    /// Which model produced the answer ("basic" for the rule-based agent).
    public var model: String
    /// True when a configured model failed and a fallback answered instead.
    public var fallbackUsed: Bool
    /// The providers and model calls behind the answer (empty for the basic agent alone).
    public var record: TurnRecord

    public init(text: String, toolCalls: [ToolCallRecord], model: String, fallbackUsed: Bool = false, record: TurnRecord = TurnRecord()) {
        self.text = text
        self.toolCalls = toolCalls
        self.model = model
        self.fallbackUsed = fallbackUsed
        self.record = record
    }
}

/// What a streamed chat turn reports while it runs.
public enum AgentEvent: Sendable, Hashable {
    /// The next piece of the answer.
    case text(String)
    /// Forget the answer's text so far: a model failed mid-answer and the next one starts over.
    case restart
    case toolStarted(name: String, arguments: JSONValue)
    case toolFinished(ToolCallRecord)
}

/// Receives a turn's events as they happen.
public typealias AgentEventSink = @Sendable (AgentEvent) async -> Void

/// Turns a user's message (with the conversation so far) into an answer, calling tools through
/// `tools`, which is already bound to the caller. With `events`, the answer's text is reported
/// as it is produced, and the reply's text is exactly the reported text.
public protocol ChatAgent: Sendable {
    func respond(to message: String, history: [Message], tools: any ToolExecutor, events: AgentEventSink?) async throws -> AgentReply
}

extension ChatAgent {
    public func respond(to message: String, history: [Message], tools: any ToolExecutor) async throws -> AgentReply {
        try await respond(to: message, history: history, tools: tools, events: nil)
    }
}

/// Reports every tool call before and after it runs.
struct ReportingToolExecutor: ToolExecutor {
    let tools: any ToolExecutor
    let events: AgentEventSink

    func call(_ name: String, arguments: JSONValue) async -> ToolCallRecord {
        await events(.toolStarted(name: name, arguments: arguments))
        let record = await tools.call(name, arguments: arguments)
        await events(.toolFinished(record))
        return record
    }
}

/// Each tool call in an `execute_tool {name}` span, and reported to `observe` with its duration.
struct ObservedToolExecutor: ToolExecutor {
    let tools: any ToolExecutor
    let observe: (@Sendable (ToolCallRecord, Duration) -> Void)?
    /// With content capture on: pseudonymizes the arguments and results the spans carry.
    let capture: ContentCapture?

    func call(_ name: String, arguments: JSONValue) async -> ToolCallRecord {
        await withSpan(Telemetry.executeTool(name)) { span in
            span.attributes[Telemetry.operationName] = "execute_tool"
            span.attributes[Telemetry.toolName] = name
            span.attributes[Telemetry.toolType] = "function"
            let started = ContinuousClock.now
            let record = await tools.call(name, arguments: arguments)
            observe?(record, .now - started)
            let failed = record.result["error"] != nil
            span.attributes[Telemetry.toolOutcome] = failed ? "error" : "ok"
            if failed {
                span.attributes[Telemetry.errorType] = record.result["error"]?["code"]?.stringValue ?? "tool_error"
                span.setStatus(SpanStatus(code: .error))
            }
            if let capture {
                span.attributes[Telemetry.toolCallArguments] = capture.text(of: arguments)
                span.attributes[Telemetry.toolCallResult] = capture.text(of: record.result)
            }
            return record
        }
    }
}

/// Message text and tool data for spans when `otel.captureContent` is on: pseudonymized with one
/// map per turn, so a value keeps its placeholder across the turn's spans.
final class ContentCapture: Sendable {
    private let map = Mutex(PseudonymMap())

    func text(_ text: String) -> String { map.withLock { $0.pseudonymize(text) } }

    func text(of value: JSONValue) -> String {
        text(String(decoding: (try? JSONEncoder().encode(value)) ?? Data(), as: UTF8.self))
    }
}

/// The agents a chat turn can use: the basic agent always, and the model agent when providers
/// are configured. A tenant's flags choose: `chatbot.ai` whether to use a model at all,
/// `model.route` which providers to try.
public struct ChatAgents: Sendable {
    public let basic: BasicAgent
    public let ai: ModelAgent?

    public init(basic: BasicAgent = BasicAgent(), ai: ModelAgent? = nil) {
        self.basic = basic
        self.ai = ai
    }

    /// `budget`: the turn's, asked before each model call.
    public func agent(useAI: Bool, route: [String] = [], budget: TurnBudget? = nil) -> any ChatAgent {
        guard useAI, let ai else { return basic }
        return ai.routed(route).budgeted(budget)
    }
}
