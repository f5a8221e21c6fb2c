import Foundation
import Hummingbird
import ParleyCore

/// `/api/v1/tasks`: the task operations for UIs, with the same rules as the agent's tools.
struct TaskController {
    let stores: TenantStores

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.get("tasks", use: list)
        group.post("tasks", use: create)
        group.get("tasks/{id}", use: get)
        group.patch("tasks/{id}", use: update)
        group.delete("tasks/{id}", use: delete)
    }

    struct CreateBody: Decodable {
        let title: String
        let description: String?
    }

    struct UpdateBody: Decodable {
        let title: String?
        let description: String?
        let status: String?
    }

    struct TaskList: Encodable {
        let tasks: [TodoTask]
    }

    func service(_ context: ParleyRequestContext) async throws -> TaskService {
        let scope = try context.scope()
        return TaskService(repository: try await stores.store(for: scope.tenant).tasks, user: scope.user)
    }

    @Sendable func list(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let status = try Self.status(request.uri.queryParameters["status"].map(String.init), allowAll: true)
        return try jsonResponse(TaskList(tasks: try await service(context).list(status: status)))
    }

    @Sendable func create(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(CreateBody.self, context: context)
        let task = try await service(context).add(title: body.title, description: body.description)
        return try jsonResponse(task, status: .created)
    }

    @Sendable func get(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let id = try context.parameters.id("id", what: "task")
        return try jsonResponse(try await service(context).get(id: id))
    }

    @Sendable func update(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let id = try context.parameters.id("id", what: "task")
        let body = try await request.decodeJSON(UpdateBody.self, context: context)
        let patch = TaskPatch(title: body.title, description: body.description, status: try Self.status(body.status, allowAll: false))
        return try jsonResponse(try await service(context).update(id: id, patch: patch))
    }

    @Sendable func delete(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let id = try context.parameters.id("id", what: "task")
        _ = try await service(context).delete(id: id)
        return Response(status: .noContent)
    }

    static func status(_ raw: String?, allowAll: Bool) throws -> TaskStatus? {
        guard let raw, !(allowAll && raw == "all") else { return nil }
        guard let status = TaskStatus(rawValue: raw) else {
            throw ParleyError.invalid(field: "status", reason: "must be \(allowAll ? "all, " : "")pending or completed")
        }
        return status
    }
}
