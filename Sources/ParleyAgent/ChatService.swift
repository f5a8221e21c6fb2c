import Foundation
import ParleyCore
import Tracing

/// One chat turn, statelessly: load the conversation from storage, let the agent answer with
/// tools bound to the caller, store the user's message and the answer together.
public struct ChatService: Sendable {
    public static let maxMessageLength = 8_000
    public static let maxTitleLength = 60

    let agent: any ChatAgent
    /// How many earlier messages the agent sees.
    let contextMessages: Int
    let toolProvider: any ToolProvider
    /// Told of every tool call with how long it took (metrics).
    let onToolCall: (@Sendable (ToolCallRecord, Duration) -> Void)?

    public init(
        agent: any ChatAgent, contextMessages: Int = 20, toolProvider: any ToolProvider = DirectToolProvider(),
        onToolCall: (@Sendable (ToolCallRecord, Duration) -> Void)? = nil
    ) {
        self.agent = agent
        self.contextMessages = contextMessages
        self.toolProvider = toolProvider
        self.onToolCall = onToolCall
    }

    /// Which request asked for a turn: kept in the turn's record.
    public struct Origin: Sendable {
        public var requestID: String?
        public var traceID: String?
        /// The conversation continued, when the request named one.
        public var conversationID: Int?

        public init(requestID: String? = nil, traceID: String? = nil, conversationID: Int? = nil) {
            self.requestID = requestID
            self.traceID = traceID
            self.conversationID = conversationID
        }
    }

    public struct Turn: Sendable {
        public let conversation: Conversation
        public let userMessage: Message
        public let assistantMessage: Message
        public let reply: AgentReply
    }

    /// Checks a message before anything is read or written.
    public static func validMessage(_ text: String) throws -> String {
        guard text.count <= maxMessageLength else {
            throw ParleyError.invalid(field: "message", reason: "must be at most \(maxMessageLength) characters")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ParleyError.invalid(field: "message", reason: "must not be empty") }
        guard !trimmed.unicodeScalars.contains("\0") else { throw ParleyError.invalid(field: "message", reason: TaskService.noNUL) }
        return trimmed
    }

    /// A turn whose message is valid and whose conversation exists, ready to run.
    public struct PreparedTurn: Sendable {
        let message: String
        let conversation: Conversation?
        let history: [Message]
    }

    /// Checks the message and loads the conversation (404 if it is not the caller's) before
    /// anything runs, so a streamed turn can still answer with a plain error.
    public func prepare(_ text: String, conversationID: Int?, user: UserID, store: any TenantStore) async throws -> PreparedTurn {
        let message = try Self.validMessage(text)
        guard let conversationID else { return PreparedTurn(message: message, conversation: nil, history: []) }
        // Both reads at once: on PostgreSQL + Redis they are two round trips to different servers.
        // The history of a conversation that is not the user's is empty (every read names the user).
        async let existing = store.conversations.get(user: user, id: conversationID)
        async let history = store.conversations.messages(user: user, conversation: conversationID, limit: contextMessages, before: nil)
        guard let conversation = try await existing else {
            throw ParleyError.notFound("conversation \(conversationID)")
        }
        return PreparedTurn(message: message, conversation: conversation, history: try await history)
    }

    /// Runs one turn; `agent` replaces the service's agent for this turn (a tenant's flags choose it).
    public func send(
        _ text: String, conversationID: Int?, user: UserID, store: any TenantStore, agent: (any ChatAgent)? = nil
    ) async throws -> Turn {
        let prepared = try await prepare(text, conversationID: conversationID, user: user, store: store)
        return try await run(prepared, user: user, store: store, agent: agent)
    }

    /// Lets the agent answer and stores the message with the answer. With `events`, the tool
    /// calls and the answer's text are reported as they happen.
    public func run(
        _ prepared: PreparedTurn, user: UserID, store: any TenantStore, agent: (any ChatAgent)? = nil, events: AgentEventSink? = nil,
        credentials: ToolCredentials? = nil, origin: Origin = Origin()
    ) async throws -> Turn {
        let reply = try await respond(
            to: prepared.message, history: prepared.history, user: user, store: store, agent: agent, events: events, credentials: credentials,
            origin: origin)
        // Written only once the answer exists, in one write: a failed turn leaves no half-conversation.
        let messages = [
            NewMessage(role: .user, content: prepared.message),
            NewMessage(role: .assistant, content: reply.text, toolCalls: reply.toolCalls, model: reply.model, record: reply.record),
        ]
        let target: Conversation
        let stored: [Message]
        if let conversation = prepared.conversation {
            target = conversation
            stored = try await store.conversations.append(user: user, conversation: conversation.id, messages: messages)
        } else {
            (target, stored) = try await store.conversations.start(user: user, title: Self.title(for: prepared.message), messages: messages)
        }
        guard stored.count == 2 else { throw ParleyError.unavailable("the message could not be stored") }
        return Turn(conversation: target, userMessage: stored[0], assistantMessage: stored[1], reply: reply)
    }

    // MARK: ChatKit's order: the question is stored first, the answer when it is complete

    /// Stores the user's message (in a new conversation when `conversation` is nil) before any
    /// answer exists, as ChatKit clients show it at once.
    public func ask(_ text: String, in conversation: Conversation?, user: UserID, store: any TenantStore) async throws -> (Conversation, Message) {
        let message = try Self.validMessage(text)
        let question = [NewMessage(role: .user, content: message)]
        let target: Conversation
        let stored: [Message]
        if let conversation {
            target = conversation
            stored = try await store.conversations.append(user: user, conversation: conversation.id, messages: question)
        } else {
            (target, stored) = try await store.conversations.start(user: user, title: Self.title(for: message), messages: question)
        }
        guard let question = stored.first else { throw ParleyError.notFound("conversation \(target.id)") }
        return (target, question)
    }

    /// Stores an empty answer to `question`, to be completed by `answer(_:into:…)`: the answer
    /// has its id while it is being made.
    public func placeholder(for question: Message, user: UserID, store: any TenantStore) async throws -> Message {
        let stored = try await store.conversations.append(
            user: user, conversation: question.conversationID, messages: [NewMessage(role: .assistant, content: "")])
        guard let placeholder = stored.first else { throw ParleyError.notFound("conversation \(question.conversationID)") }
        return placeholder
    }

    /// Answers a stored question with the messages before it as context, into its placeholder.
    /// A failed answer removes the placeholder (the question stays, to be retried).
    public func answer(
        _ question: Message, into placeholder: Message, user: UserID, store: any TenantStore, agent: (any ChatAgent)? = nil,
        events: AgentEventSink? = nil, credentials: ToolCredentials? = nil, origin: Origin = Origin()
    ) async throws -> (answer: Message, reply: AgentReply) {
        do {
            let history = try await store.conversations.messages(
                user: user, conversation: question.conversationID, limit: contextMessages, before: question.id)
            let reply = try await respond(
                to: question.content, history: history, user: user, store: store, agent: agent, events: events, credentials: credentials,
                origin: origin)
            guard
                let answer = try await store.conversations.complete(
                    user: user, message: placeholder.id, content: reply.text, toolCalls: reply.toolCalls, model: reply.model,
                    record: reply.record)
            else { throw ParleyError.notFound("conversation \(question.conversationID)") }
            return (answer, reply)
        } catch {
            _ = try? await store.conversations.deleteMessages(user: user, conversation: question.conversationID, after: question.id)
            throw error
        }
    }

    /// The agent's answer, with the caller's tools (reported to `events` when given), and its
    /// record completed with the turn's time and origin.
    private func respond(
        to message: String, history: [Message], user: UserID, store: any TenantStore, agent: (any ChatAgent)?,
        events: AgentEventSink?, credentials: ToolCredentials?, origin: Origin
    ) async throws -> AgentReply {
        let agent = agent ?? self.agent
        let capture = Telemetry.capturesContent ? ContentCapture() : nil
        return try await withSpan(Telemetry.invokeAgent) { span in
            span.attributes[Telemetry.operationName] = "invoke_agent"
            span.attributes[Telemetry.agentName] = "parley"
            span.attributes[Telemetry.tenant] = store.tenant.rawValue
            span.attributes[Telemetry.conversationID] = origin.conversationID
            if let capture { span.attributes[Telemetry.inputMessages] = capture.text(message) }
            let started = ContinuousClock.now
            var reply = try await toolProvider.withTools(for: TaskService(repository: store.tasks, user: user), credentials: credentials) {
                executor in
                var tools: any ToolExecutor = ObservedToolExecutor(tools: executor, observe: onToolCall, capture: capture)
                if let events { tools = ReportingToolExecutor(tools: tools, events: events) }
                return try await agent.respond(to: message, history: history, tools: tools, events: events)
            }
            reply.record.duration = .now - started
            reply.record.requestID = origin.requestID
            reply.record.traceID = origin.traceID
            span.attributes[Telemetry.responseModel] = reply.model
            span.attributes[Telemetry.provider] = reply.record.provider
            span.attributes[Telemetry.fallbackUsed] = reply.fallbackUsed
            if let capture { span.attributes[Telemetry.outputMessages] = capture.text(reply.text) }
            return reply
        }
    }

    static func title(for message: String) -> String {
        let firstLine = message.split(whereSeparator: \.isNewline).first.map(String.init) ?? message
        guard firstLine.count > maxTitleLength else { return firstLine }
        return String(firstLine.prefix(maxTitleLength - 1)) + "…"
    }
}
