import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ParleyCore
import ParleyModels

/// Turns what a request did into an audit event and queues it (never waiting for storage).
struct Auditor: Sendable {
    let queue: any AuditQueue

    func record(
        _ context: ParleyRequestContext, action: String, object: String? = nil, outcome: AuditEvent.Outcome,
        detail: String? = nil, actor: String? = nil
    ) {
        queue.publish(
            AuditEvent(
                tenant: context.tenant, actor: actor ?? context.principal?.user.rawValue ?? "anonymous", action: action,
                object: object, outcome: outcome, ip: context.clientIP, requestID: context.requestID, detail: detail,
                traceID: TracePropagation.currentTraceID()))
    }

    /// The audit event of a task tool call, however it came (a chat turn, an MCP client): the same
    /// actions as the REST routes that do the same. Reads are audited only when they failed.
    static func toolCallEvent(
        _ call: ToolCallRecord, tenant: TenantID?, actor: String, ip: String?, requestID: String?, detail: String
    ) -> AuditEvent? {
        let errorCode = call.result["error"]?["code"]?.stringValue
        let action: String
        switch call.name {
        case "add_task": action = "task.create"
        case "complete_task", "update_task": action = "task.update"
        case "delete_task": action = "task.delete"
        case "restore_task": action = "task.restore"
        default:
            guard errorCode != nil else { return nil }
            action = "task.read"
        }
        let outcome: AuditEvent.Outcome =
            switch errorCode {
            case nil: .success
            case "not_found"?: .notFound
            case "invalid_arguments"?, "unknown_tool"?: .invalid
            default: .failed
            }
        let id = call.result["task"]?["id"]?.intValue ?? call.arguments["task_id"]?.intValue
        return AuditEvent(
            tenant: tenant, actor: actor, action: action, object: id.map { "task:\($0)" }, outcome: outcome, ip: ip,
            requestID: requestID, detail: detail, traceID: TracePropagation.currentTraceID())
    }

    static func outcome(for status: HTTPResponse.Status) -> AuditEvent.Outcome {
        switch status.code {
        case 200..<400: .success
        case 401, 403, 429: .denied
        case 404: .notFound
        case 400..<500: .invalid
        default: .failed
        }
    }
}

/// Audits every authenticated request that changes something or touches admin data, and every
/// read that was refused or found nothing (how probing for other users' objects shows up).
/// The action comes from the route, so a new route cannot forget to be audited.
struct AuditMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    let auditor: Auditor

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let status: HTTPResponse.Status
        let response: Response
        do {
            response = try await next(request, context)
            status = response.status
        } catch {
            record(request, context: context, status: HTTPProblem.from(error).status)
            throw error
        }
        record(request, context: context, status: status)
        return response
    }

    private func record(_ request: Request, context: Context, status: HTTPResponse.Status) {
        let route = context.endpointPath ?? request.uri.path
        let outcome = Auditor.outcome(for: status)
        let isRead = request.method == .get || request.method == .head
        // Admin reads and a user's export of their data are audited even when they succeed.
        guard !isRead || outcome != .success || route.contains("/admin/") || route.hasSuffix("/me/export") else { return }
        // 429s are counted in metrics, not audited: a flood must not flood the audit log.
        guard status != .tooManyRequests else { return }
        let noted = context.trace?.snapshot
        let object = noted?.auditObject ?? Self.object(route: route, parameters: context.parameters)
        auditor.record(
            context, action: Self.action(method: request.method, route: route), object: object, outcome: outcome,
            detail: noted?.auditDetail ?? (outcome == .success ? nil : "HTTP \(status.code)"), actor: noted?.auditActor)
    }

    /// `task.update` for `PATCH /api/v1/tasks/{id}`, and so on (built once, read per request).
    static let actions: [String: String] = [
        "POST /api/v1/chat": "chat.message",
        "POST /chatkit": "chatkit.request",
        "POST /mcp": "mcp.message",
        "DELETE /mcp": "mcp.session.close",
        "POST /api/{user_id}/chat": "chat.message",
        "GET /api/v1/chat/history": "chat.history",
        "POST /api/v1/chat/feedback": "feedback.submit",
        "GET /api/v1/conversations": "conversation.list",
        "DELETE /api/v1/conversations/{id}": "conversation.delete",
        "GET /api/v1/tasks": "task.list",
        "POST /api/v1/tasks": "task.create",
        "GET /api/v1/tasks/{id}": "task.read",
        "PATCH /api/v1/tasks/{id}": "task.update",
        "DELETE /api/v1/tasks/{id}": "task.delete",
        "GET /api/v1/admin/tenants": "tenant.list",
        "POST /api/v1/admin/tenants": "tenant.provision",
        "GET /api/v1/admin/audit": "audit.read",
        "GET /api/v1/admin/audit/dead-letters": "audit.dead_letters.read",
        "POST /api/v1/admin/audit/dead-letters/{id}/replay": "audit.dead_letters.replay",
        "GET /api/v1/admin/flags": "flags.read",
        "PATCH /api/v1/admin/flags": "flags.update",
        "GET /api/v1/admin/flags/global": "flags.read",
        "PATCH /api/v1/admin/flags/global": "flags.update",
        "GET /api/v1/admin/feedback": "feedback.export",
        "GET /api/v1/admin/users/{user_id}/conversations/{id}": "conversation.inspect",
        "GET /api/v1/admin/usage": "usage.read",
        "GET /api/v1/me/export": "user.export",
        "DELETE /api/v1/me": "user.erase",
        "DELETE /api/v1/admin/users/{user_id}": "user.erase",
    ]

    static func action(method: HTTPRequest.Method, route: String) -> String {
        let normalized = route.hasPrefix("/") ? route : "/" + route
        return actions["\(method.rawValue) \(normalized)"] ?? "request.\(method.rawValue.lowercased())"
    }

    static func object(route: String, parameters: Parameters) -> String? {
        guard let id = parameters.get("id") else { return nil }
        let kind = route.contains("conversations") ? "conversation" : route.contains("tasks") ? "task" : "object"
        return "\(kind):\(id.prefix(32))"
    }
}
