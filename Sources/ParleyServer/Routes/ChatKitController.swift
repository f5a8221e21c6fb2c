import Foundation
import HTTPTypes
import Hummingbird
import ParleyAgent
import ParleyCore

/// `POST /chatkit`: OpenAI ChatKit's self-hosted backend protocol, for teams whose front end is
/// ChatKit. One envelope `{type, params, metadata}`; `threads.create`, `threads.add_user_message`
/// and `threads.retry_after_item` answer with `data: <json>` events in ChatKit's order, the
/// others with JSON. Same auth, tenancy, limits and audit as the rest of the API.
struct ChatKitController {
    let stores: TenantStores
    let chat: ChatService
    let flags: FlagService
    let chatController: ChatController

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.post(use: handle)
    }

    struct Envelope: Decodable {
        let type: String
        let params: Params
    }

    /// Every request type's parameters, each optional here and required where its type needs it.
    struct Params: Decodable {
        var input: Input?
        var threadID: String?
        var itemID: String?
        var itemIDs: [String]?
        var kind: String?
        var title: String?
        var limit: Int?
        var order: String?
        var after: String?

        enum CodingKeys: String, CodingKey {
            case input, kind, title, limit, order, after
            case threadID = "thread_id"
            case itemID = "item_id"
            case itemIDs = "item_ids"
        }
    }

    struct Input: Decodable {
        struct Part: Decodable {
            let type: String
            let text: String?
        }

        let content: [Part]
        let attachments: [String]?

        /// The message's text: its text parts, joined.
        var text: String {
            content.filter { $0.type == "input_text" || $0.type == "input_tag" }.compactMap(\.text).joined(separator: "\n")
        }
    }

    @Sendable func handle(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let envelope = try await request.decodeJSON(Envelope.self, context: context)
        let scope = try context.scope()
        let store = try await stores.store(for: scope.tenant)
        let params = envelope.params
        context.trace?.noteAudit(object: params.threadID.map { "thread:\($0.prefix(40))" }, detail: envelope.type)
        switch envelope.type {
        case "threads.create":
            let text = try Self.message(try required(params.input, "params.input"))
            let pending = try await begin(request, context: context, store: store)
            let (conversation, question) = try await chat.ask(text, in: nil, user: scope.user, store: store)
            return try await stream(pending, question: question, opening: [
                ["type": "thread.created", "thread": ChatKitItems.thread(conversation)],
                ["type": "thread.item.done", "item": ChatKitItems.userItem(question)],
            ], context: context)
        case "threads.add_user_message":
            let text = try Self.message(try required(params.input, "params.input"))
            let conversation = try await thread(params, user: scope.user, store: store)
            let pending = try await begin(request, context: context, store: store)
            let (_, question) = try await chat.ask(text, in: conversation, user: scope.user, store: store)
            return try await stream(
                pending, question: question, opening: [["type": "thread.item.done", "item": ChatKitItems.userItem(question)]], context: context)
        case "threads.retry_after_item":
            let conversation = try await thread(params, user: scope.user, store: store)
            let itemID = try required(params.itemID, "params.item_id")
            let messages = try await allMessages(of: conversation, user: scope.user, store: store)
            guard let id = ChatKitItems.messageID(itemID), itemID.hasPrefix("msg_"),
                let question = messages.first(where: { $0.id == id && $0.role == .user })
            else {
                throw ParleyError.notFound("user message \(itemID.prefix(40))")
            }
            let pending = try await begin(request, context: context, store: store)
            _ = try await store.conversations.deleteMessages(user: scope.user, conversation: conversation.id, after: question.id)
            return try await stream(pending, question: question, opening: [], context: context)
        case "threads.get_by_id":
            let conversation = try await thread(params, user: scope.user, store: store)
            let items = ChatKitItems.items(try await allMessages(of: conversation, user: scope.user, store: store))
            let first = items.prefix(20)
            return try jsonResponse(
                ChatKitItems.thread(
                    conversation, items: ChatKitItems.page(first.map(\.item), hasMore: items.count > 20, after: first.last?.id)))
        case "threads.list":
            return try jsonResponse(try await threads(params, user: scope.user, store: store))
        case "items.list":
            let conversation = try await thread(params, user: scope.user, store: store)
            let items = ChatKitItems.items(try await allMessages(of: conversation, user: scope.user, store: store))
            return try jsonResponse(try Self.page(items, params: params))
        case "items.feedback":
            let conversation = try await thread(params, user: scope.user, store: store)
            let kind = try required(params.kind, "params.kind")
            guard let rating = ["positive": FeedbackRating.up, "negative": .down][kind] else {
                throw ParleyError.invalid(field: "params.kind", reason: "must be positive or negative")
            }
            let messages = try await allMessages(of: conversation, user: scope.user, store: store)
            var rated = 0
            for itemID in try required(params.itemIDs, "params.item_ids") {
                // An answer's item, or its workflow's.
                guard let id = ChatKitItems.messageID(itemID), let answer = messages.first(where: { $0.id == id && $0.role == .assistant })
                else { continue }
                if try await store.feedback.submit(user: scope.user, messageID: answer.id, rating: rating, comment: nil) != nil { rated += 1 }
            }
            guard rated > 0 else { throw ParleyError.notFound("assistant items \(params.itemIDs ?? [])") }
            return try jsonResponse([String: JSONValue]())
        case "threads.update":
            let conversation = try await thread(params, user: scope.user, store: store)
            let title = try required(params.title, "params.title").trimmingCharacters(in: .whitespacesAndNewlines)
            guard (1...200).contains(title.count) else { throw ParleyError.invalid(field: "params.title", reason: "must be 1–200 characters") }
            guard let renamed = try await store.conversations.rename(user: scope.user, id: conversation.id, title: title) else {
                throw ParleyError.notFound("thread \(ChatKitItems.threadID(conversation.id))")
            }
            return try jsonResponse(ChatKitItems.thread(renamed))
        case "threads.delete":
            let conversation = try await thread(params, user: scope.user, store: store)
            _ = try await store.conversations.delete(user: scope.user, id: conversation.id)
            return try jsonResponse([String: JSONValue]())
        default:
            throw HTTPProblem.malformed("unsupported request type \(envelope.type.prefix(60))", field: "type")
        }
    }

    /// The input's text, checked like any chat message; attachments are not supported.
    static func message(_ input: Input) throws -> String {
        if !(input.attachments ?? []).isEmpty {
            throw ParleyError.invalid(field: "params.input.attachments", reason: "attachments are not supported")
        }
        do {
            return try ChatService.validMessage(input.text)
        } catch ParleyError.invalid(_, let reason) {
            throw ParleyError.invalid(field: "params.input.content", reason: reason)
        }
    }

    func required<Value>(_ value: Value?, _ field: String) throws -> Value {
        guard let value else { throw HTTPProblem.malformed("\(field) is required", field: field) }
        return value
    }

    /// The caller's conversation a thread id names; 404 for anything else.
    func thread(_ params: Params, user: UserID, store: any TenantStore) async throws -> Conversation {
        let threadID = try required(params.threadID, "params.thread_id")
        guard let id = ChatKitItems.conversationID(threadID), let conversation = try await store.conversations.get(user: user, id: id) else {
            throw ParleyError.notFound("thread \(threadID.prefix(40))")
        }
        return conversation
    }

    /// The conversation's messages, oldest first (ChatKit threads are read whole; at most 1,000 messages).
    func allMessages(of conversation: Conversation, user: UserID, store: any TenantStore) async throws -> [Message] {
        try await store.conversations.messages(user: user, conversation: conversation.id, limit: 1_000, before: nil)
    }

    func threads(_ params: Params, user: UserID, store: any TenantStore) async throws -> JSONValue {
        let limit = try Self.limit(params)
        let descending = try Self.descending(params)
        let after = try params.after.map { cursor in
            guard let id = ChatKitItems.conversationID(cursor) else { throw ParleyError.invalid(field: "params.after", reason: "not a thread id") }
            return id
        }
        var conversations: [Conversation]
        if descending {
            conversations = try await store.conversations.list(user: user, limit: limit + 1, before: after)
        } else {
            conversations = Array(try await store.conversations.list(user: user, limit: 1_000, before: nil).reversed())
            if let after { conversations = Array(conversations.drop { $0.id <= after }) }
            conversations = Array(conversations.prefix(limit + 1))
        }
        let hasMore = conversations.count > limit
        let shown = conversations.prefix(limit)
        return ChatKitItems.page(shown.map { ChatKitItems.thread($0) }, hasMore: hasMore, after: shown.last.map { ChatKitItems.threadID($0.id) })
    }

    static func page(_ items: [(id: String, item: JSONValue)], params: Params) throws -> JSONValue {
        let limit = try limit(params)
        var ordered = try descending(params) ? Array(items.reversed()) : items
        if let after = params.after {
            guard let index = ordered.firstIndex(where: { $0.id == after }) else {
                throw ParleyError.invalid(field: "params.after", reason: "not an item of this thread")
            }
            ordered = Array(ordered[(index + 1)...])
        }
        let shown = ordered.prefix(limit)
        return ChatKitItems.page(shown.map(\.item), hasMore: ordered.count > limit, after: shown.last?.id)
    }

    static func limit(_ params: Params) throws -> Int {
        guard let limit = params.limit, limit != 0 else { return 20 }
        guard (1...100).contains(limit) else { throw ParleyError.invalid(field: "params.limit", reason: "must be 1–100") }
        return limit
    }

    static func descending(_ params: Params) throws -> Bool {
        switch params.order ?? "desc" {
        case "desc": return true
        case "asc": return false
        default: throw ParleyError.invalid(field: "params.order", reason: "must be asc or desc")
        }
    }

    /// Who answers, for whom.
    struct Answerer: Sendable {
        let user: UserID
        let store: any TenantStore
        let agent: any ChatAgent
        let credentials: ToolCredentials?
        let origin: ChatService.Origin
    }

    /// What may refuse a turn before it streams: the chatbot flag. The agent follows the tenant's flags.
    func begin(_ request: Request, context: ParleyRequestContext, store: any TenantStore) async throws -> Answerer {
        let scope = try context.scope()
        let flags = try await flags.flags(for: scope.tenant)
        guard flags.chatbotEnabled else { throw ParleyError.unavailable("the chatbot is switched off for this tenant") }
        if flags.chatbotAI { try await chatController.usage.checkBeforeTurn(tenant: scope.tenant, user: scope.user, flags: flags) }
        let token = AuthMiddleware.bearerToken(request.headers[.authorization])
        return Answerer(
            user: scope.user, store: store, agent: chatController.agent(for: scope, flags: flags),
            credentials: token.map { ToolCredentials(tenant: scope.tenant, bearerToken: $0) }, origin: ChatController.origin(context))
    }

    /// The answer to `question` as ChatKit events: `opening` first, then `stream_options`, the
    /// tool calls as a workflow item, and the answer's text as it comes.
    func stream(_ pending: Answerer, question: Message, opening: [JSONValue], context: ParleyRequestContext) async throws -> Response {
        let slot = try chatController.streams.acquire(user: pending.user, tenant: try context.scope().tenant)
        let placeholder = try await chat.placeholder(for: question, user: pending.user, store: pending.store)
        return eventStream { output in
            // Held until the stream's response is done with.
            withExtendedLifetime(slot) {}
            for event in opening { output.yield(Self.frame(event)) }
            output.yield(Self.frame(["type": "stream_options", "stream_options": ["allow_cancel": false]]))
            let turn = ChatKitTurn(answer: placeholder, output: output)
            do {
                let (answer, reply) = try await chat.answer(
                    question, into: placeholder, user: pending.user, store: pending.store, agent: pending.agent,
                    events: { event in await turn.report(event) }, credentials: pending.credentials, origin: pending.origin)
                chatController.recordReply(reply, conversation: question.conversationID, context: context)
                await turn.finish(answer)
            } catch {
                let problem = HTTPProblem.from(error)
                output.yield(Self.frame(["type": "error", "code": "custom", "message": .string(problem.detail), "allow_retry": true]))
            }
        }
    }

    static func frame(_ event: JSONValue) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes((try? JSONCoding.encoder.encode(event)) ?? Data("{}".utf8))
        buffer.writeString("\n\n")
        return buffer
    }
}

/// The events of one answer as it is made: a workflow item while tools run, then the answer's
/// item with its text. One at a time (the agent reports in order).
actor ChatKitTurn {
    /// The answer's stored placeholder: its id and time.
    let answer: Message
    let output: AsyncStream<ByteBuffer>.Continuation
    private var tasks: [JSONValue] = []
    private var workflowOpen = false
    private var answerOpen = false
    private var text = ""

    init(answer: Message, output: AsyncStream<ByteBuffer>.Continuation) {
        self.answer = answer
        self.output = output
    }

    private func emit(_ event: JSONValue) {
        output.yield(ChatKitController.frame(event))
    }

    private var answerID: JSONValue { .string(ChatKitItems.itemID(answer.id)) }

    private func update(_ itemID: JSONValue, _ update: JSONValue) {
        emit(["type": "thread.item.updated", "item_id": itemID, "update": update])
    }

    func report(_ event: AgentEvent) {
        switch event {
        case .toolStarted(let name, _):
            let words = name.replacingOccurrences(of: "_", with: " ")
            emit(["type": "progress_update", "icon": "write", "text": .string("Working: \(words)…")])
            let task = ChatKitItems.task(words, done: false)
            tasks.append(task)
            if workflowOpen {
                update(.string(ChatKitItems.workflowID(answer.id)), ["type": "workflow.task.added", "task_index": JSONValue(tasks.count - 1), "task": task])
            } else {
                workflowOpen = true
                emit(["type": "thread.item.added", "item": ChatKitItems.workflowItem(of: answer, tasks: tasks, done: false)])
            }
        case .toolFinished(let call):
            guard workflowOpen, !tasks.isEmpty else { return }
            let task = ChatKitItems.task(call)
            tasks[tasks.count - 1] = task
            update(.string(ChatKitItems.workflowID(answer.id)), ["type": "workflow.task.updated", "task_index": JSONValue(tasks.count - 1), "task": task])
        case .text(let piece):
            openAnswer()
            text += piece
            update(answerID, ["type": "assistant_message.content_part.text_delta", "content_index": 0, "delta": .string(piece)])
        case .restart:
            // A model failed mid-answer and the next starts over: the partial answer goes.
            dropAnswer()
        }
    }

    private func closeWorkflow() {
        guard workflowOpen else { return }
        workflowOpen = false
        emit(["type": "thread.item.done", "item": ChatKitItems.workflowItem(of: answer, tasks: tasks, done: true)])
    }

    private func openAnswer() {
        guard !answerOpen else { return }
        closeWorkflow()
        answerOpen = true
        emit(["type": "thread.item.added", "item": ChatKitItems.answerItem(answer, text: nil)])
        update(answerID, ["type": "assistant_message.content_part.added", "content_index": 0, "content": ChatKitItems.outputText("")])
    }

    private func dropAnswer() {
        guard answerOpen else { return }
        emit(["type": "thread.item.removed", "item_id": answerID])
        answerOpen = false
        text = ""
    }

    /// The stored answer: its text in full (the deltas add up to it), and the item done.
    func finish(_ stored: Message) {
        // A text that is not what was streamed (nothing streamed, or restored placeholders) is sent whole.
        if !stored.content.hasPrefix(text) { dropAnswer() }
        openAnswer()
        if stored.content.count > text.count {
            let rest = String(stored.content.dropFirst(text.count))
            update(answerID, ["type": "assistant_message.content_part.text_delta", "content_index": 0, "delta": .string(rest)])
        }
        update(answerID, ["type": "assistant_message.content_part.done", "content_index": 0, "content": ChatKitItems.outputText(stored.content)])
        emit(["type": "thread.item.done", "item": ChatKitItems.answerItem(stored, text: stored.content)])
    }
}
