import ParleyCore

/// What an agent answered, and the tool calls it made to get there.
public struct AgentReply: Sendable, Hashable {
    public var text: String
    public var toolCalls: [ToolCallRecord]
    /// Which model produced the answer ("basic" for the rule-based agent).
    public var model: String
    /// True when a configured model failed and a fallback answered instead.
    public var fallbackUsed: Bool

    public init(text: String, toolCalls: [ToolCallRecord], model: String, fallbackUsed: Bool = false) {
        self.text = text
        self.toolCalls = toolCalls
        self.model = model
        self.fallbackUsed = fallbackUsed
    }
}

/// Turns a user's message (with the conversation so far) into an answer, calling tools through
/// `tools`, which is already bound to the caller.
public protocol ChatAgent: Sendable {
    func respond(to message: String, history: [Message], tools: any ToolExecutor) async throws -> AgentReply
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
