import ParleyCore

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

/// Tells `observe` of every tool call and how long it took.
struct TimedToolExecutor: ToolExecutor {
    let tools: any ToolExecutor
    let observe: @Sendable (ToolCallRecord, Duration) -> Void

    func call(_ name: String, arguments: JSONValue) async -> ToolCallRecord {
        let started = ContinuousClock.now
        let record = await tools.call(name, arguments: arguments)
        observe(record, .now - started)
        return record
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

    public func agent(useAI: Bool, route: [String] = []) -> any ChatAgent {
        guard useAI, let ai else { return basic }
        return ai.routed(route)
    }
}
