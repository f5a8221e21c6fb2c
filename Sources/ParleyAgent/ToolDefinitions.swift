import ParleyCore

/// A tool the agent can call: a name, what it does, and the JSON Schema of its arguments.
/// The same definitions are offered to language models and served by the MCP server.
public struct ToolDefinition: Sendable, Hashable {
    public let name: String
    public let description: String
    public let inputSchema: JSONValue

    public init(name: String, description: String, inputSchema: JSONValue) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
    }
}

/// The argument schemas the tools share, so a limit (a title's length, the statuses) is
/// stated once and every tool that takes that field enforces the same one.
private enum Field {
    static func taskID(_ description: String = "The task number") -> JSONValue {
        ["type": "integer", "minimum": 1, "description": .string(description)]
    }
    static func title(_ description: String) -> JSONValue {
        ["type": "string", "minLength": 1, "maxLength": 200, "description": .string(description)]
    }
    static func description(_ description: String) -> JSONValue {
        ["type": "string", "maxLength": 2000, "description": .string(description)]
    }
    static func status(_ description: String) -> JSONValue {
        ["type": "string", "enum": ["pending", "completed"], "description": .string(description)]
    }
}

/// The task tools. They take no user or tenant argument: those come from the caller's
/// verified identity, so a model cannot act for someone else.
public enum TaskTools {
    public static let addTask = ToolDefinition(
        name: "add_task",
        description: "Create a new task for the user. Returns the created task with its number.",
        inputSchema: [
            "type": "object",
            "properties": [
                "title": Field.title("Short title of the task"),
                "description": Field.description("Optional longer description"),
            ],
            "required": ["title"],
            "additionalProperties": false,
        ])

    public static let listTasks = ToolDefinition(
        name: "list_tasks",
        description: "List the user's tasks, optionally only pending or only completed ones.",
        inputSchema: [
            "type": "object",
            "properties": [
                "status": ["type": "string", "enum": ["all", "pending", "completed"], "description": "Which tasks to list (default all)"]
            ],
            "additionalProperties": false,
        ])

    public static let completeTask = ToolDefinition(
        name: "complete_task",
        description: "Mark one of the user's tasks as completed, by its number.",
        inputSchema: [
            "type": "object",
            "properties": ["task_id": Field.taskID()],
            "required": ["task_id"],
            "additionalProperties": false,
        ])

    public static let deleteTask = ToolDefinition(
        name: "delete_task",
        description: "Delete one of the user's tasks, by its number.",
        inputSchema: [
            "type": "object",
            "properties": ["task_id": Field.taskID()],
            "required": ["task_id"],
            "additionalProperties": false,
        ])

    public static let updateTask = ToolDefinition(
        name: "update_task",
        description: "Change the title, description or status of one of the user's tasks, by its number.",
        inputSchema: [
            "type": "object",
            "properties": [
                "task_id": Field.taskID(),
                "title": Field.title("New title"),
                "description": Field.description("New description (empty clears it)"),
                "status": Field.status("New status (pending reopens a task)"),
            ],
            "required": ["task_id"],
            "additionalProperties": false,
        ])

    public static let restoreTask = ToolDefinition(
        name: "restore_task",
        description:
            "Bring back a task that was deleted, under its old number, with the title, description and status it had (to undo a delete). Fails when that number is in use.",
        inputSchema: [
            "type": "object",
            "properties": [
                "task_id": Field.taskID("The number the deleted task had"),
                "title": Field.title("Its title"),
                "description": Field.description("Its description, if it had one"),
                "status": Field.status("Its status (default pending)"),
            ],
            "required": ["task_id", "title"],
            "additionalProperties": false,
        ])

    public static let all: [ToolDefinition] = [addTask, listTasks, completeTask, deleteTask, updateTask, restoreTask]

    public static func definition(named name: String) -> ToolDefinition? {
        all.first { $0.name == name }
    }
}
