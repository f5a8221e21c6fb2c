import Foundation
import Hummingbird
import ParleyCore

/// `GET /api/v1/admin/users/{user_id}/conversations/{id}`: one conversation of a user of the
/// request's tenant, turn by turn, as an operator debugging "the assistant did the wrong thing"
/// needs it: the question and the answer, the tool calls with their arguments and results, which
/// provider answered after which fallbacks, every model call with its latency and tokens, the
/// turn's time, its request and trace ids, and the audit events of that request. Admins only;
/// the read itself is audited (`conversation.inspect`).
struct ConversationInspection {
    let stores: TenantStores

    struct Page: Encodable {
        let user: String
        let conversation: Conversation
        let turns: [Turn]
        /// Older turns exist: ask again with `before` = the first turn's question id.
        let hasMore: Bool

        enum CodingKeys: String, CodingKey {
            case user, conversation, turns
            case hasMore = "has_more"
        }
    }

    struct Turn: Encodable {
        let question: Message?
        let answer: Message?
        /// The provider that answered; `nil` when the basic agent did.
        let provider: String?
        let fallbackUsed: Bool
        let fallbacks: [TurnRecord.Fallback]
        let modelCalls: [ModelCallRecord]
        let durationMs: Double?
        let requestID: String?
        let traceID: String?
        /// The audit events of the turn's request (chat.message, task.* via chat), oldest first.
        let audit: [AdminController.AuditEntry]

        enum CodingKeys: String, CodingKey {
            case question, answer, provider, fallbacks, audit
            case fallbackUsed = "fallback_used"
            case modelCalls = "model_calls"
            case durationMs = "duration_ms"
            case requestID = "request_id"
            case traceID = "trace_id"
        }
    }

    @Sendable func inspect(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.admin()
        let tenant = try context.scope().tenant
        guard let user = context.parameters.get("user_id").flatMap(UserID.init) else {
            throw ParleyError.notFound("user")
        }
        let id = try context.parameters.id("id", what: "conversation")
        let limit = try request.intQuery("limit", in: 1...500) ?? 50
        let before = try request.intQuery("before", in: 1...Int.max)
        context.trace?.noteAudit(object: "conversation:\(id)", detail: "user \(user.rawValue)")

        let store = try await stores.store(for: tenant)
        guard let conversation = try await store.conversations.get(user: user, id: id) else {
            throw ParleyError.notFound("conversation \(id) of user \(user.rawValue)")
        }
        // One more message than two per turn tells whether older turns exist.
        var messages = try await store.conversations.messages(user: user, conversation: id, limit: limit * 2 + 1, before: before)
        let hasMore = messages.count > limit * 2
        if hasMore { messages.removeFirst(messages.count - limit * 2) }
        // A page never starts with the answer to a question on the page before.
        if messages.first?.role == .assistant, hasMore { messages.removeFirst() }
        let records = try await store.conversations.turnRecords(user: user, conversation: id)

        var pairs: [(question: Message?, answer: Message?)] = []
        for message in messages {
            if message.role == .user {
                pairs.append((message, nil))
            } else if let last = pairs.last, last.answer == nil {
                pairs[pairs.count - 1].answer = message
            } else {
                pairs.append((nil, message))
            }
        }
        let requestIDs = pairs.compactMap { $0.answer.flatMap { records[$0.id]?.requestID } }
        var events: [String: [AdminController.AuditEntry]] = [:]
        if !requestIDs.isEmpty {
            let found = try await store.audit.query(AuditFilter(requestIDs: Array(Set(requestIDs)), limit: 1000))
            for record in found.reversed() {
                guard let requestID = record.event.requestID else { continue }
                events[requestID, default: []].append(AdminController.AuditEntry(record: record))
            }
        }
        let turns = pairs.map { pair -> Turn in
            let record = pair.answer.flatMap { records[$0.id] }
            let calls = record?.modelCalls ?? []
            return Turn(
                question: pair.question, answer: pair.answer, provider: record?.provider,
                fallbackUsed: !(record?.fallbacks.isEmpty ?? true) || (!calls.isEmpty && record?.provider == nil),
                fallbacks: record?.fallbacks ?? [], modelCalls: calls, durationMs: record?.duration.milliseconds,
                requestID: record?.requestID, traceID: record?.traceID,
                audit: record?.requestID.flatMap { events[$0] } ?? [])
        }
        return try jsonResponse(Page(user: user.rawValue, conversation: conversation, turns: turns, hasMore: hasMore))
    }
}
