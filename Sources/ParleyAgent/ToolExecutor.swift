import Foundation
import ParleyCore

/// Runs a tool by name for one caller. Never throws: every failure becomes a result the agent
/// (or a model) can read, `{"error": {"code", "message"}}`.
public protocol ToolExecutor: Sendable {
    func call(_ name: String, arguments: JSONValue) async -> ToolCallRecord
}

/// Who a chat turn acts for, as a tool service that checks for itself needs to know it.
public struct ToolCredentials: Sendable, Hashable {
    public let tenant: TenantID
    /// The caller's own bearer token (a remote MCP service of the same deployment verifies it).
    public let bearerToken: String

    public init(tenant: TenantID, bearerToken: String) {
        self.tenant = tenant
        self.bearerToken = bearerToken
    }
}

/// How a chat turn reaches its tools: directly, or through an MCP client (ParleyMCP's
/// providers), always bound to the one user `tasks` serves.
public protocol ToolProvider: Sendable {
    func withTools<T: Sendable>(
        for tasks: TaskService, credentials: ToolCredentials?, _ body: (any ToolExecutor) async throws -> T
    ) async throws -> T
}

/// The tools called in process, without MCP.
public struct DirectToolProvider: ToolProvider {
    public init() {}

    public func withTools<T: Sendable>(
        for tasks: TaskService, credentials: ToolCredentials?, _ body: (any ToolExecutor) async throws -> T
    ) async throws -> T {
        try await body(TaskToolExecutor(tasks: tasks))
    }
}

/// The task tools bound to one user's `TaskService` (so to one tenant and one user).
public struct TaskToolExecutor: ToolExecutor {
    let tasks: TaskService

    public init(tasks: TaskService) {
        self.tasks = tasks
    }

    public func call(_ name: String, arguments: JSONValue) async -> ToolCallRecord {
        let result: JSONValue
        do {
            guard let definition = TaskTools.definition(named: name) else {
                throw ToolError(code: "unknown_tool", message: "no tool named \(name)")
            }
            if let problem = JSONSchemaValidator.problem(with: arguments, against: definition.inputSchema) {
                throw ToolError(code: "invalid_arguments", message: problem)
            }
            result = try await run(name, arguments)
        } catch let error as ToolError {
            result = Self.error(code: error.code, message: error.message)
        } catch let error as ParleyError {
            switch error {
            case .notFound(let what): result = Self.error(code: "not_found", message: "\(what) not found")
            case .invalid(let field, let reason): result = Self.error(code: "invalid_arguments", message: "\(field): \(reason)")
            case .conflict(let what): result = Self.error(code: "conflict", message: what)
            default: result = Self.error(code: "failed", message: "the task service could not do this")
            }
        } catch {
            result = Self.error(code: "unavailable", message: "the task store is unavailable, try again")
        }
        return ToolCallRecord(name: name, arguments: arguments, result: result)
    }

    private func run(_ name: String, _ arguments: JSONValue) async throws -> JSONValue {
        switch name {
        case TaskTools.addTask.name:
            let task = try await tasks.add(
                title: arguments["title"]?.stringValue ?? "", description: arguments["description"]?.stringValue)
            return ["task": Self.json(task)]
        case TaskTools.listTasks.name:
            let filter = arguments["status"]?.stringValue.flatMap(TaskStatus.init(rawValue:))
            let list = try await tasks.list(status: filter)
            return ["tasks": .array(list.map(Self.json)), "count": JSONValue(list.count)]
        case TaskTools.completeTask.name:
            let id = arguments["task_id"]?.intValue ?? 0
            let before = try await tasks.get(id: id)
            let task = try await tasks.complete(id: id)
            return ["task": Self.json(task), "already_completed": .bool(before.status == .completed)]
        case TaskTools.deleteTask.name:
            return ["task": Self.json(try await tasks.delete(id: arguments["task_id"]?.intValue ?? 0)), "deleted": true]
        case TaskTools.updateTask.name:
            let patch = TaskPatch(
                title: arguments["title"]?.stringValue, description: arguments["description"]?.stringValue,
                status: arguments["status"]?.stringValue.flatMap(TaskStatus.init(rawValue:)))
            let id = arguments["task_id"]?.intValue ?? 0
            let before = try await tasks.get(id: id)
            // What it was, so that the change can be undone.
            return ["task": Self.json(try await tasks.update(id: id, patch: patch)), "previous": Self.json(before)]
        case TaskTools.restoreTask.name:
            let now = Date()
            let status = arguments["status"]?.stringValue.flatMap(TaskStatus.init(rawValue:)) ?? .pending
            let task = TodoTask(
                id: arguments["task_id"]?.intValue ?? 0, title: arguments["title"]?.stringValue ?? "",
                description: arguments["description"]?.stringValue, status: status, createdAt: now, updatedAt: now,
                completedAt: status == .completed ? now : nil)
            return ["task": Self.json(try await tasks.restore(task)), "restored": true]
        default:
            throw ToolError(code: "unknown_tool", message: "no tool named \(name)")
        }
    }

    static func error(code: String, message: String) -> JSONValue {
        ["error": ["code": .string(code), "message": .string(message)]]
    }

    public static func json(_ task: TodoTask) -> JSONValue {
        [
            "id": JSONValue(task.id),
            "title": .string(task.title),
            "description": task.description.map(JSONValue.string) ?? .null,
            "status": .string(task.status.rawValue),
        ]
    }
}

struct ToolError: Error {
    let code: String
    let message: String
}
