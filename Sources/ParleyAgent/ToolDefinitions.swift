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

/// The five task tools. They take no user or tenant argument: those come from the caller's
/// verified identity, so a model cannot act for someone else.
public enum TaskTools {
    public static let addTask = ToolDefinition(
        name: "add_task",
        description: "Create a new task for the user. Returns the created task with its number.",
        inputSchema: [
            "type": "object",
            "properties": [
                "title": ["type": "string", "minLength": 1, "maxLength": 200, "description": "Short title of the task"],
                "description": ["type": "string", "maxLength": 2000, "description": "Optional longer description"],
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
            "properties": ["task_id": ["type": "integer", "minimum": 1, "description": "The task number"]],
            "required": ["task_id"],
            "additionalProperties": false,
        ])

    public static let deleteTask = ToolDefinition(
        name: "delete_task",
        description: "Delete one of the user's tasks, by its number.",
        inputSchema: [
            "type": "object",
            "properties": ["task_id": ["type": "integer", "minimum": 1, "description": "The task number"]],
            "required": ["task_id"],
            "additionalProperties": false,
        ])

    public static let updateTask = ToolDefinition(
        name: "update_task",
        description: "Change the title, description or status of one of the user's tasks, by its number.",
        inputSchema: [
            "type": "object",
            "properties": [
                "task_id": ["type": "integer", "minimum": 1, "description": "The task number"],
                "title": ["type": "string", "minLength": 1, "maxLength": 200, "description": "New title"],
                "description": ["type": "string", "maxLength": 2000, "description": "New description (empty clears it)"],
                "status": ["type": "string", "enum": ["pending", "completed"], "description": "New status (pending reopens a task)"],
            ],
            "required": ["task_id"],
            "additionalProperties": false,
        ])

    public static let all: [ToolDefinition] = [addTask, listTasks, completeTask, deleteTask, updateTask]

    public static func definition(named name: String) -> ToolDefinition? {
        all.first { $0.name == name }
    }
}
