import Crypto
import Foundation
import Hummingbird
import ParleyCore

/// A user's own data: `GET /api/v1/me/export` (everything Parley holds about the caller in the
/// request's tenant, as one JSON document), `DELETE /api/v1/me` (the caller erases it) and
/// `DELETE /api/v1/admin/users/{user_id}` (an admin erases a user of the request's tenant).
///
/// Erasure removes the user's tasks, conversations, messages, feedback, task counter, cached
/// context and own usage counts (the tenant's totals keep their calls). Its audit event names
/// the user only by a pseudonym; earlier audit events are left as they are (the log is
/// hash-chained, and audit retention ages them out).
struct UserDataController {
    let stores: TenantStores
    let usage: UsageMeter

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.get("me/export", use: export)
        group.delete("me", use: eraseSelf)
        group.delete("admin/users/{user_id}", use: eraseUser)
    }

    struct Export: Encodable {
        let tenant: TenantID
        let userID: String
        let exportedAt: Date
        let tasks: [TodoTask]
        let conversations: [ConversationWithMessages]
        let feedback: [Feedback]

        enum CodingKeys: String, CodingKey {
            case tenant, tasks, conversations, feedback
            case userID = "user_id"
            case exportedAt = "exported_at"
        }
    }

    /// A conversation's own members, and its messages with their tool calls.
    struct ConversationWithMessages: Encodable {
        let conversation: Conversation
        let messages: [Message]

        enum CodingKeys: String, CodingKey { case messages }

        func encode(to encoder: any Encoder) throws {
            try conversation.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(messages, forKey: .messages)
        }
    }

    @Sendable func export(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let scope = try context.scope()
        let data = try await stores.store(for: scope.tenant).userData.export(user: scope.user)
        let messages = Dictionary(grouping: data.messages, by: \.conversationID)
        let document = Export(
            tenant: scope.tenant, userID: scope.user.rawValue, exportedAt: Date(), tasks: data.tasks,
            conversations: data.conversations.map { ConversationWithMessages(conversation: $0, messages: messages[$0.id] ?? []) },
            feedback: data.feedback)
        var response = try jsonResponse(document)
        response.headers[.contentDisposition] = "attachment; filename=\"parley-\(scope.tenant.rawValue).json\""
        return response
    }

    struct Erased: Encodable {
        /// The pseudonym the audit log knows the erased user by.
        let erased: String
        let removed: ErasureReport
    }

    @Sendable func eraseSelf(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let scope = try context.scope()
        return try await erase(scope.user, in: scope.tenant, context: context, bySelf: true)
    }

    @Sendable func eraseUser(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.admin()
        let tenant = try context.scope().tenant
        guard let raw = context.parameters.get("user_id"), let user = UserID(raw) else { throw ParleyError.notFound("user") }
        return try await erase(user, in: tenant, context: context, bySelf: false)
    }

    private func erase(_ user: UserID, in tenant: TenantID, context: ParleyRequestContext, bySelf: Bool) async throws -> Response {
        let pseudonym = Self.pseudonym(of: user, in: tenant)
        // The audit event names the pseudonym, also as the actor when the user erases themselves.
        context.trace?.noteAudit(object: "user:\(pseudonym)", actor: bySelf ? pseudonym : nil)
        let report = try await stores.store(for: tenant).userData.erase(user: user)
        try await usage.forget(tenant: tenant, user: user)
        context.trace?.noteAudit(
            object: nil,
            detail: "erased \(report.tasks) tasks, \(report.conversations) conversations, \(report.messages) messages, \(report.feedback) feedback")
        return try jsonResponse(Erased(erased: pseudonym, removed: report))
    }

    /// `erased-` and 16 hex digits of SHA-256 over the tenant and the user: the same user always
    /// gets the same pseudonym (an operator holding the id can find the event), and the log holds no id.
    static func pseudonym(of user: UserID, in tenant: TenantID) -> String {
        let digest = SHA256.hash(data: Array("parley erasure\u{0}\(tenant.rawValue)\u{0}\(user.rawValue)".utf8))
        return "erased-" + digest.prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}
