import Foundation
import ParleyCore

/// The OpenAI Chat Completions wire format, as far as Parley uses it (OpenAI, llama.cpp's
/// `llama-server` and other compatible servers all speak it).
public struct ChatMessage: Codable, Sendable, Hashable {
    public enum Role: String, Codable, Sendable {
        case system, user, assistant, tool
    }

    public var role: Role
    public var content: String?
    public var toolCalls: [ToolCall]?
    /// For `role: tool`: the call this message answers.
    public var toolCallID: String?

    public init(role: Role, content: String?, toolCalls: [ToolCall]? = nil, toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }

    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: .system, content: text) }
    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: .user, content: text) }
    public static func assistant(_ text: String) -> ChatMessage { ChatMessage(role: .assistant, content: text) }
    public static func tool(_ result: String, callID: String) -> ChatMessage {
        ChatMessage(role: .tool, content: result, toolCallID: callID)
    }

    enum CodingKeys: String, CodingKey {
        case role, content
        case toolCalls = "tool_calls"
        case toolCallID = "tool_call_id"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(role, forKey: .role)
        // An assistant message that only calls tools carries `content: null`, as OpenAI sends it.
        try container.encode(content, forKey: .content)
        if let toolCalls, !toolCalls.isEmpty { try container.encode(toolCalls, forKey: .toolCalls) }
        try container.encodeIfPresent(toolCallID, forKey: .toolCallID)
    }
}

/// A function call the model asked for; `arguments` is JSON text, as the model wrote it.
public struct ToolCall: Codable, Sendable, Hashable {
    public struct Function: Codable, Sendable, Hashable {
        public var name: String
        public var arguments: String

        public init(name: String, arguments: String) {
            self.name = name
            self.arguments = arguments
        }
    }

    public var id: String
    public var type: String = "function"
    public var function: Function

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.function = Function(name: name, arguments: arguments)
    }
}

/// A tool offered to the model.
public struct ToolSpec: Encodable, Sendable, Hashable {
    public struct Function: Encodable, Sendable, Hashable {
        public var name: String
        public var description: String
        public var parameters: JSONValue
    }

    public var type = "function"
    public var function: Function

    public init(name: String, description: String, parameters: JSONValue) {
        function = Function(name: name, description: description, parameters: parameters)
    }
}

public enum ToolChoice: Sendable, Hashable {
    case auto
    case none
    case required
    case function(String)

    var json: JSONValue {
        switch self {
        case .auto: "auto"
        case .none: "none"
        case .required: "required"
        case .function(let name): ["type": "function", "function": ["name": .string(name)]]
        }
    }
}

/// What Parley asks of a model (the provider adds its model name).
public struct ChatRequest: Sendable, Hashable {
    public var messages: [ChatMessage]
    public var tools: [ToolSpec]
    public var toolChoice: ToolChoice?
    public var maxTokens: Int?
    public var temperature: Double?

    public init(
        messages: [ChatMessage], tools: [ToolSpec] = [], toolChoice: ToolChoice? = nil, maxTokens: Int? = nil,
        temperature: Double? = nil
    ) {
        self.messages = messages
        self.tools = tools
        self.toolChoice = toolChoice
        self.maxTokens = maxTokens
        self.temperature = temperature
    }
}

public struct TokenUsage: Codable, Sendable, Hashable {
    public var promptTokens: Int
    public var completionTokens: Int

    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
    }
}

/// A model's whole answer: text and/or tool calls.
public struct ChatResponse: Sendable, Hashable {
    public var message: ChatMessage
    public var finishReason: String?
    public var usage: TokenUsage?
    /// The model that answered, as the server names it.
    public var model: String

    public init(message: ChatMessage, finishReason: String?, usage: TokenUsage?, model: String) {
        self.message = message
        self.finishReason = finishReason
        self.usage = usage
        self.model = model
    }
}

/// What a streamed answer yields: text as it comes, then the whole answer.
public enum ChatStreamEvent: Sendable, Hashable {
    case text(String)
    /// The assembled answer, tool calls included (their arguments arrive in pieces).
    case completed(ChatResponse)
}

/// Why a model call failed; each is a reason to fall through to the next provider.
public enum ModelError: Error, Sendable, Hashable, CustomStringConvertible {
    case timeout
    case unreachable(String)
    case status(Int, String)
    case malformed(String)
    case cancelled

    /// A short label for logs and metrics.
    public var reason: String {
        switch self {
        case .timeout: "timeout"
        case .unreachable: "unreachable"
        case .status(429, _): "rate_limited"
        case .status(let code, _) where code >= 500: "server_error"
        case .status: "client_error"
        case .malformed: "malformed"
        case .cancelled: "cancelled"
        }
    }

    public var description: String {
        switch self {
        case .timeout: "the model did not answer in time"
        case .unreachable(let why): "the model server is unreachable: \(why)"
        case .status(let code, let body): "the model server answered \(code): \(body.prefix(200))"
        case .malformed(let why): "the model's answer is malformed: \(why)"
        case .cancelled: "cancelled"
        }
    }
}

/// A language model behind an OpenAI-compatible API.
public protocol ChatModel: Sendable {
    func complete(_ request: ChatRequest) async throws -> ChatResponse
    func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatStreamEvent, any Error>
}
