import Foundation
import HTTPTypes
import Hummingbird
import ParleyAgent
import ParleyCore
import ParleyModels

/// The chat API: one turn at a time, conversations and their history, and feedback.
struct ChatController {
    let stores: TenantStores
    let chat: ChatService
    let agents: ChatAgents
    let flags: FlagService
    let auditor: Auditor
    let metrics: ParleyMetrics
    let streams: StreamSlots
    let usage: UsageMeter

    func addRoutes(api: RouterGroup<ParleyRequestContext>, userScoped: RouterGroup<ParleyRequestContext>) {
        api.post("chat", use: send)
        api.get("chat/history", use: history)
        api.post("chat/feedback", use: feedback)
        api.get("conversations", use: conversations)
        api.delete("conversations/{id}", use: deleteConversation)
        userScoped.post("chat", use: sendForUser)
    }

    struct ChatBody: Decodable {
        let message: String
        let conversationID: Int?
        let stream: Bool?

        enum CodingKeys: String, CodingKey {
            case message, stream
            case conversationID = "conversation_id"
        }
    }

    struct ChatReply: Encodable {
        let conversationID: Int
        let messageID: Int
        let response: String
        let toolCalls: [ToolCallRecord]
        let model: String
        let fallbackUsed: Bool

        init(_ turn: ChatService.Turn) {
            conversationID = turn.conversation.id
            messageID = turn.assistantMessage.id
            response = turn.reply.text
            toolCalls = turn.reply.toolCalls
            model = turn.reply.model
            fallbackUsed = turn.reply.fallbackUsed
        }

        enum CodingKeys: String, CodingKey {
            case response, model
            case conversationID = "conversation_id"
            case messageID = "message_id"
            case toolCalls = "tool_calls"
            case fallbackUsed = "fallback_used"
        }
    }

    /// The to-do chatbot's original contract: `{conversation_id, response, tool_calls}`.
    struct UserChatReply: Encodable {
        let conversationID: Int
        let response: String
        let toolCalls: [ToolCallRecord]

        enum CodingKeys: String, CodingKey {
            case response
            case conversationID = "conversation_id"
            case toolCalls = "tool_calls"
        }
    }

    @Sendable func send(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(ChatBody.self, context: context)
        let pending = try await begin(body, request: request, context: context)
        if body.stream ?? request.headers[.accept]?.contains("text/event-stream") ?? false {
            let slot = try streams.acquire(user: pending.user, tenant: try context.scope().tenant)
            return stream(pending, slot: slot, context: context)
        }
        let turn = try await chat.run(
            pending.prepared, user: pending.user, store: pending.store, agent: pending.agent, credentials: pending.credentials,
            origin: pending.origin)
        record(turn, context: context)
        return try jsonResponse(ChatReply(turn))
    }

    @Sendable func sendForUser(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let scope = try context.scope()
        guard context.parameters.get("user_id") == scope.user.rawValue else {
            throw ParleyError.forbidden("the path names another user than the token's subject")
        }
        let body = try await request.decodeJSON(ChatBody.self, context: context)
        let pending = try await begin(body, request: request, context: context)
        let turn = try await chat.run(
            pending.prepared, user: pending.user, store: pending.store, agent: pending.agent, credentials: pending.credentials,
            origin: pending.origin)
        record(turn, context: context)
        return try jsonResponse(
            UserChatReply(conversationID: turn.conversation.id, response: turn.reply.text, toolCalls: turn.reply.toolCalls))
    }

    /// A turn that passed every check and is ready to run.
    struct PendingTurn: Sendable {
        let user: UserID
        let store: any TenantStore
        let prepared: ChatService.PreparedTurn
        let agent: any ChatAgent
        /// For a tool service that verifies the caller itself (`mcp.url`).
        let credentials: ToolCredentials?
        /// The request, for the turn's record.
        let origin: ChatService.Origin
    }

    /// Everything that can refuse the turn, before anything runs: the message, the chatbot
    /// flag, the tenant's store, the conversation.
    func begin(_ body: ChatBody, request: Request, context: ParleyRequestContext) async throws -> PendingTurn {
        let scope = try context.scope()
        if let id = body.conversationID, id <= 0 { throw ParleyError.notFound("conversation \(id)") }
        _ = try ChatService.validMessage(body.message)  // before the store is even opened
        let flags = try await flags.flags(for: scope.tenant)
        guard flags.chatbotEnabled else {
            throw ParleyError.unavailable("the chatbot is switched off for this tenant")
        }
        if flags.chatbotAI { try await usage.checkBeforeTurn(tenant: scope.tenant, user: scope.user, flags: flags) }
        let store = try await stores.store(for: scope.tenant)
        let prepared = try await chat.prepare(body.message, conversationID: body.conversationID, user: scope.user, store: store)
        let token = AuthMiddleware.bearerToken(request.headers[.authorization])
        return PendingTurn(
            user: scope.user, store: store, prepared: prepared, agent: agent(for: scope, flags: flags),
            credentials: token.map { ToolCredentials(tenant: scope.tenant, bearerToken: $0) },
            origin: Self.origin(context, conversation: body.conversationID))
    }

    /// The agent a tenant's flags choose, with the turn's budget.
    func agent(for scope: Scope, flags: FeatureFlags) -> any ChatAgent {
        agents.agent(
            useAI: flags.chatbotAI, route: flags.modelRoute, budget: usage.budget(tenant: scope.tenant, user: scope.user, flags: flags))
    }

    /// The request a turn came in, for its record and its trace.
    static func origin(_ context: ParleyRequestContext, conversation: Int? = nil) -> ChatService.Origin {
        ChatService.Origin(
            requestID: context.requestID.isEmpty ? nil : context.requestID, traceID: TracePropagation.currentTraceID(),
            conversationID: conversation)
    }

    /// Metrics and audit of a finished turn.
    func record(_ turn: ChatService.Turn, context: ParleyRequestContext) {
        recordReply(turn.reply, conversation: turn.conversation.id, context: context)
    }

    /// Metrics and audit of an answer, however it was asked for (this API, ChatKit).
    func recordReply(_ reply: AgentReply, conversation: Int, context: ParleyRequestContext) {
        metrics.recordReply(model: reply.model, fallback: reply.fallbackUsed)
        auditToolCalls(reply.toolCalls, context: context)
        context.trace?.noteAudit(
            object: "conversation:\(conversation)",
            detail: reply.toolCalls.isEmpty ? nil : "tools: " + reply.toolCalls.map(\.name).joined(separator: ", "))
    }

    /// The turn as Server-Sent Events: `delta` {text} pieces (`restart` {}: drop the text so far),
    /// `tool_call` {name, arguments} before and `tool_result` {name, arguments, result} after each
    /// tool, then `done` with the object a plain reply carries (its `response` is exactly the
    /// deltas joined), or `error` with a problem. A client that goes away does not stop the turn:
    /// it is finished and stored, and shows up in the history.
    func stream(_ pending: PendingTurn, slot: StreamSlots.Slot, context: ParleyRequestContext) -> Response {
        eventStream { output in
            // Held until the stream's response is done with.
            withExtendedLifetime(slot) {}
            do {
                let turn = try await chat.run(
                    pending.prepared, user: pending.user, store: pending.store, agent: pending.agent,
                    events: { event in output.yield(Self.frame(event)) }, credentials: pending.credentials, origin: pending.origin)
                record(turn, context: context)
                output.yield(Self.frame("done", ChatReply(turn)))
            } catch {
                let problem = HTTPProblem.from(error)
                output.yield(
                    Self.frame(
                        "error",
                        Problem(
                            title: problem.status.reasonPhrase, status: problem.status.code, detail: problem.detail,
                            requestID: context.requestID)))
            }
        }
    }

    static func frame(_ event: AgentEvent) -> ByteBuffer {
        switch event {
        case .text(let piece): frame("delta", ["text": JSONValue.string(piece)])
        case .restart: frame("restart", [String: JSONValue]())
        case .toolStarted(let name, let arguments): frame("tool_call", ["name": JSONValue.string(name), "arguments": arguments])
        case .toolFinished(let record): frame("tool_result", record)
        }
    }

    static func frame(_ event: String, _ data: some Encodable) -> ByteBuffer {
        let json = (try? JSONCoding.encoder.encode(data)) ?? Data("{}".utf8)
        var buffer = ByteBuffer(string: "event: \(event)\ndata: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }

    /// Task changes the agent made are audited like the same changes through the REST API.
    func auditToolCalls(_ calls: [ToolCallRecord], context: ParleyRequestContext) {
        for call in calls {
            guard
                let event = Auditor.toolCallEvent(
                    call, tenant: context.tenant, actor: context.principal?.user.rawValue ?? "anonymous", ip: context.clientIP,
                    requestID: context.requestID, detail: "via chat")
            else { continue }
            auditor.queue.publish(event)
        }
    }

    struct HistoryPage: Encodable {
        let conversationID: Int?
        let messages: [Message]
        let hasMore: Bool

        enum CodingKeys: String, CodingKey {
            case messages
            case conversationID = "conversation_id"
            case hasMore = "has_more"
        }
    }

    @Sendable func history(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let scope = try context.scope()
        let conversationID = try request.intQuery("conversation_id", in: 1...Int.max)
        let limit = try request.intQuery("limit", in: 1...200) ?? 50
        let before = try request.intQuery("before", in: 1...Int.max)
        let store = try await stores.store(for: scope.tenant)
        if let conversationID, try await store.conversations.get(user: scope.user, id: conversationID) == nil {
            throw ParleyError.notFound("conversation \(conversationID)")
        }
        // One extra row tells whether there is an older page.
        var messages = try await store.conversations.messages(
            user: scope.user, conversation: conversationID, limit: limit + 1, before: before)
        let hasMore = messages.count > limit
        if hasMore { messages.removeFirst() }
        return try jsonResponse(HistoryPage(conversationID: conversationID, messages: messages, hasMore: hasMore))
    }

    struct ConversationPage: Encodable {
        let conversations: [Conversation]
        let hasMore: Bool

        enum CodingKeys: String, CodingKey {
            case conversations
            case hasMore = "has_more"
        }
    }

    @Sendable func conversations(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let scope = try context.scope()
        let limit = try request.intQuery("limit", in: 1...200) ?? 50
        let before = try request.intQuery("before", in: 1...Int.max)
        let store = try await stores.store(for: scope.tenant)
        var page = try await store.conversations.list(user: scope.user, limit: limit + 1, before: before)
        let hasMore = page.count > limit
        if hasMore { page.removeLast() }
        return try jsonResponse(ConversationPage(conversations: page, hasMore: hasMore))
    }

    @Sendable func deleteConversation(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let scope = try context.scope()
        let id = try context.parameters.id("id", what: "conversation")
        guard try await stores.store(for: scope.tenant).conversations.delete(user: scope.user, id: id) else {
            throw ParleyError.notFound("conversation \(id)")
        }
        return Response(status: .noContent)
    }

    struct FeedbackBody: Decodable {
        let messageID: Int
        let rating: String
        let comment: String?

        enum CodingKeys: String, CodingKey {
            case rating, comment
            case messageID = "message_id"
        }
    }

    static let maxCommentLength = 2_000

    @Sendable func feedback(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let scope = try context.scope()
        let body = try await request.decodeJSON(FeedbackBody.self, context: context)
        guard let rating = FeedbackRating(rawValue: body.rating) else {
            throw ParleyError.invalid(field: "rating", reason: "must be up or down")
        }
        let comment = body.comment?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let comment, comment.count > Self.maxCommentLength {
            throw ParleyError.invalid(field: "comment", reason: "must be at most \(Self.maxCommentLength) characters")
        }
        guard body.messageID > 0,
            let feedback = try await stores.store(for: scope.tenant).feedback.submit(
                user: scope.user, messageID: body.messageID, rating: rating,
                comment: comment.flatMap { $0.isEmpty ? nil : $0 })
        else {
            throw ParleyError.notFound("assistant message \(body.messageID)")
        }
        return try jsonResponse(feedback, status: .created)
    }
}
