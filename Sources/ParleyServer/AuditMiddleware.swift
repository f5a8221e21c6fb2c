import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ParleyCore
import ParleyRedis
import ServiceLifecycle

/// Turns what a request did into an audit event and queues it (never waiting for storage).
struct Auditor: Sendable {
    let queue: any AuditQueue

    func record(
        _ context: ParleyRequestContext, action: String, object: String? = nil, outcome: AuditEvent.Outcome,
        detail: String? = nil
    ) {
        queue.publish(
            AuditEvent(
                tenant: context.tenant, actor: context.principal?.user.rawValue ?? "anonymous", action: action,
                object: object, outcome: outcome, ip: context.clientIP, requestID: context.requestID, detail: detail))
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
            requestID: requestID, detail: detail)
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
        guard !isRead || outcome != .success || route.contains("/admin/") else { return }
        // 429s are counted in metrics, not audited: a flood must not flood the audit log.
        guard status != .tooManyRequests else { return }
        let noted = context.trace?.snapshot
        let object = noted?.auditObject ?? Self.object(route: route, parameters: context.parameters)
        auditor.record(
            context, action: Self.action(method: request.method, route: route), object: object, outcome: outcome,
            detail: noted?.auditDetail ?? (outcome == .success ? nil : "HTTP \(status.code)"))
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

/// Stores audit events in the audit logs: each event in its tenant's log (the system log when
/// it has no tenant, or its tenant has no storage). Order is kept within each log, which is what
/// the hash chain covers.
struct AuditWriter: Sendable {
    static let attempts = 5

    let stores: any TenantStoreProvider
    let control: any ControlStore
    let deadLetterURL: URL
    let metrics: ParleyMetrics
    let logger: Logger

    /// One attempt for events of one tenant (the Redis worker retries through redelivery).
    func append(_ events: [AuditEvent]) async throws {
        guard let first = events.first else { return }
        _ = try await log(for: first.tenant).append(events)
        metrics.recordAuditWritten(events.count)
    }

    /// Every event of `batch`, retrying a failed write with back-off; what still fails goes to
    /// the dead-letter file so that it is never silently dropped.
    func write(_ batch: [AuditEvent]) async {
        for events in Self.byTenant(batch) {
            var delay: Duration = .milliseconds(50)
            for attempt in 1...Self.attempts {
                do {
                    try await append(events)
                    break
                } catch {
                    if attempt == Self.attempts {
                        logger.error(
                            "audit events could not be stored; written to the dead-letter file",
                            metadata: ["count": "\(events.count)", "error": "\(error)", "file": "\(deadLetterURL.path)"])
                        deadLetter(events)
                        break
                    }
                    try? await Task.sleep(for: delay)
                    delay *= 4
                }
            }
        }
    }

    static func byTenant(_ batch: [AuditEvent]) -> [[AuditEvent]] {
        var groups: [TenantID?: [AuditEvent]] = [:]
        var order: [TenantID?] = []
        for event in batch {
            if groups[event.tenant] == nil { order.append(event.tenant) }
            groups[event.tenant, default: []].append(event)
        }
        return order.map { groups[$0] ?? [] }
    }

    private func log(for tenant: TenantID?) async throws -> any AuditLogRepository {
        guard let tenant else { return control.systemAudit }
        do {
            return try await stores.store(for: tenant, provisioning: .existingOnly).audit
        } catch ParleyError.notFound {
            return control.systemAudit
        }
    }

    /// Appends the events as JSON lines for the operator: nothing acknowledged is dropped silently.
    private func deadLetter(_ events: [AuditEvent]) {
        metrics.recordAuditDeadLetters(events.count)
        var lines = Data()
        for event in events {
            guard let line = try? JSONCoding.encoder.encode(event) else { continue }
            lines.append(line)
            lines.append(0x0A)
        }
        if !FileManager.default.fileExists(atPath: deadLetterURL.path) {
            _ = FileManager.default.createFile(atPath: deadLetterURL.path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        guard let handle = try? FileHandle(forWritingTo: deadLetterURL) else {
            logger.critical("cannot open the audit dead-letter file", metadata: ["file": "\(deadLetterURL.path)"])
            return
        }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: lines)
    }
}

/// Moves audit events from where requests queue them to the audit logs, until shutdown, when it
/// passes on what is queued before the storage closes.
///
/// - In process: drains the in-process queue into the logs.
/// - With Redis: sends the outbox to the Redis Stream and, unless `audit.worker` is `off`, runs
///   one of the workers that store the stream's events (`parley worker` runs more).
final class AuditWorker: Service {
    static let batchSize = 200

    enum Mode {
        case inProcess(InProcessAuditQueue)
        case redis(RedisAuditStream, consumer: RedisAuditConsumer?)
    }

    let mode: Mode
    let writer: AuditWriter
    let metrics: ParleyMetrics

    init(mode: Mode, writer: AuditWriter, metrics: ParleyMetrics) {
        self.mode = mode
        self.writer = writer
        self.metrics = metrics
    }

    func run() async throws {
        let writer = self.writer
        let metrics = self.metrics
        switch mode {
        case .inProcess(let queue):
            await withGracefulShutdownHandler {
                while let batch = await queue.next(maxCount: Self.batchSize) {
                    await writer.write(batch)
                    metrics.auditQueueDepth(queue.depth)
                }
            } onGracefulShutdown: {
                queue.finish()
            }
        case .redis(let stream, let consumer):
            await withTaskGroup(of: Void.self) { group in
                if let consumer {
                    group.addTask {
                        await cancelWhenGracefulShutdown {
                            await consumer.run(store: { events in try await writer.append(events) })
                        }
                    }
                }
                group.addTask {
                    await withGracefulShutdownHandler {
                        await stream.run()
                    } onGracefulShutdown: {
                        stream.finish()
                    }
                }
                group.addTask {
                    // The gauge shows what waits in this process's outbox (Redis holds the rest).
                    await cancelWhenGracefulShutdown {
                        while !Task.isCancelled {
                            metrics.auditQueueDepth(stream.depth)
                            try? await Task.sleep(for: .seconds(1))
                        }
                    }
                }
            }
        }
    }
}
