import Foundation

/// The task operations with their rules (title 1–200 characters, description at most
/// 2,000), shared by the REST routes and the agent's tools so both behave the same.
public struct TaskService: Sendable {
    public static let maxTitleLength = 200
    public static let maxDescriptionLength = 2_000

    let repository: any TaskRepository
    let user: UserID

    public init(repository: any TaskRepository, user: UserID) {
        self.repository = repository
        self.user = user
    }

    public func add(title: String, description: String?) async throws -> TodoTask {
        let title = try Self.validTitle(title)
        let description = try Self.validDescription(description)
        return try await repository.create(user: user, title: title, description: description)
    }

    public func list(status: TaskStatus? = nil) async throws -> [TodoTask] {
        try await repository.list(user: user, status: status)
    }

    public func get(id: Int) async throws -> TodoTask {
        guard let task = try await repository.get(user: user, id: id) else { throw Self.notFound(id) }
        return task
    }

    public func complete(id: Int) async throws -> TodoTask {
        try await update(id: id, patch: TaskPatch(status: .completed))
    }

    public func delete(id: Int) async throws -> TodoTask {
        guard let task = try await repository.delete(user: user, id: id) else { throw Self.notFound(id) }
        return task
    }

    public func update(id: Int, patch: TaskPatch) async throws -> TodoTask {
        var patch = patch
        if let title = patch.title { patch.title = try Self.validTitle(title) }
        if let description = patch.description { patch.description = try Self.validDescription(description) ?? "" }
        guard !patch.isEmpty else {
            throw ParleyError.invalid(field: "title", reason: "give a new title, description or status")
        }
        guard let task = try await repository.update(user: user, id: id, patch: patch) else { throw Self.notFound(id) }
        return task
    }

    /// Brings back a deleted task with its number, title, description, status and creation time.
    public func restore(_ task: TodoTask) async throws -> TodoTask {
        var task = task
        task.title = try Self.validTitle(task.title)
        task.description = try Self.validDescription(task.description)
        if let restored = try await repository.restore(user: user, task: task) { return restored }
        if try await repository.get(user: user, id: task.id) != nil { throw ParleyError.conflict("task \(task.id) exists") }
        throw Self.notFound(task.id)
    }

    static func notFound(_ id: Int) -> ParleyError { .notFound("task \(id)") }

    /// Why text with U+0000 is refused: PostgreSQL cannot store it and SQLite would cut the text there.
    public static let noNUL = "must not contain the NUL character (U+0000)"

    /// Trims the title and checks its length (in characters, as a person counts them).
    public static func validTitle(_ raw: String) throws -> String {
        let title = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty else { throw ParleyError.invalid(field: "title", reason: "must not be empty") }
        guard !title.unicodeScalars.contains("\0") else { throw ParleyError.invalid(field: "title", reason: Self.noNUL) }
        guard title.count <= maxTitleLength else {
            throw ParleyError.invalid(field: "title", reason: "must be at most \(maxTitleLength) characters")
        }
        return title
    }

    /// Trims the description; an empty one means "no description".
    public static func validDescription(_ raw: String?) throws -> String? {
        guard let description = raw?.trimmingCharacters(in: .whitespacesAndNewlines), !description.isEmpty else {
            return nil
        }
        guard !description.unicodeScalars.contains("\0") else { throw ParleyError.invalid(field: "description", reason: Self.noNUL) }
        guard description.count <= maxDescriptionLength else {
            throw ParleyError.invalid(
                field: "description", reason: "must be at most \(maxDescriptionLength) characters")
        }
        return description
    }
}
