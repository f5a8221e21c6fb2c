import Foundation
import ParleyCore

/// Parley's conversations as ChatKit sees them: a conversation is a thread, its messages are
/// items, with string ids derived from Parley's: thread `thr_<conversation id>`, message
/// `msg_<message id>`, and the tools an answer used as one `workflow` item `wf_<answer id>`
/// just before it. (An answer is stored empty when it starts, so it has its id while it streams.)
enum ChatKitItems {
    static func threadID(_ conversation: Int) -> String { "thr_\(conversation)" }

    static func conversationID(_ threadID: String) -> Int? {
        guard threadID.hasPrefix("thr_"), let id = Int(threadID.dropFirst(4)), id > 0 else { return nil }
        return id
    }

    /// The message a `msg_` item (or a `wf_` item, its answer) stands for.
    static func messageID(_ itemID: String) -> Int? {
        for prefix in ["msg_", "wf_"] where itemID.hasPrefix(prefix) {
            if let id = Int(itemID.dropFirst(prefix.count)), id > 0 { return id }
        }
        return nil
    }

    static func itemID(_ message: Int) -> String { "msg_\(message)" }
    static func workflowID(_ answer: Int) -> String { "wf_\(answer)" }

    /// RFC 3339 in UTC with milliseconds: `2026-11-22T03:29:13.759Z`.
    static let timeStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func time(_ date: Date) -> JSONValue { .string(timeStyle.format(date)) }

    static func page(_ data: [JSONValue], hasMore: Bool, after: String?) -> JSONValue {
        var page: [String: JSONValue] = ["data": .array(data), "has_more": .bool(hasMore)]
        if hasMore, let after { page["after"] = .string(after) }
        return .object(page)
    }

    static func thread(_ conversation: Conversation, items: JSONValue = page([], hasMore: false, after: nil)) -> JSONValue {
        [
            "id": .string(threadID(conversation.id)), "title": .string(conversation.title), "created_at": time(conversation.createdAt),
            "status": ["type": "active"], "metadata": [:], "items": items,
        ]
    }

    static func userItem(_ message: Message) -> JSONValue {
        [
            "id": .string(itemID(message.id)), "thread_id": .string(threadID(message.conversationID)), "created_at": time(message.createdAt),
            "type": "user_message", "content": [["type": "input_text", "text": .string(message.content)]],
            "attachments": [], "inference_options": [:],
        ]
    }

    static func outputText(_ text: String) -> JSONValue {
        ["annotations": [], "text": .string(text), "type": "output_text"]
    }

    /// An answer; `text` nil while it has none yet.
    static func answerItem(_ answer: Message, text: String?) -> JSONValue {
        [
            "id": .string(itemID(answer.id)), "thread_id": .string(threadID(answer.conversationID)), "created_at": time(answer.createdAt),
            "type": "assistant_message", "content": .array(text.map { [outputText($0)] } ?? []),
        ]
    }

    /// One task of the workflow item: a tool call, running or done.
    static func task(_ title: String, done: Bool, failed: Bool = false) -> JSONValue {
        ["type": "custom", "title": .string(title), "status_indicator": done ? "complete" : "loading", "icon": failed ? "circle-question" : "check"]
    }

    static func task(_ call: ToolCallRecord) -> JSONValue {
        task(ToolCallSummary.text(call), done: true, failed: call.result["error"] != nil)
    }

    static func workflowItem(of answer: Message, tasks: [JSONValue], done: Bool) -> JSONValue {
        var workflow: [String: JSONValue] = ["type": "custom", "tasks": .array(tasks), "expanded": false]
        if done {
            workflow["summary"] = ["title": .string(tasks.count == 1 ? "Used 1 tool" : "Used \(tasks.count) tools"), "icon": "check"]
        }
        return [
            "id": .string(workflowID(answer.id)), "thread_id": .string(threadID(answer.conversationID)), "created_at": time(answer.createdAt),
            "type": "workflow", "workflow": .object(workflow),
        ]
    }

    /// The items of stored messages, in order; an answer that used tools comes after its workflow.
    static func items(_ messages: [Message]) -> [(id: String, item: JSONValue)] {
        var items: [(id: String, item: JSONValue)] = []
        for message in messages {
            switch message.role {
            case .user:
                items.append((itemID(message.id), userItem(message)))
            case .assistant:
                if !message.toolCalls.isEmpty {
                    items.append((workflowID(message.id), workflowItem(of: message, tasks: message.toolCalls.map(task), done: true)))
                }
                items.append((itemID(message.id), answerItem(message, text: message.content)))
            }
        }
        return items
    }
}

/// What a tool call did, in words ("Added task 6: Buy milk"): the web chat says the same.
enum ToolCallSummary {
    static func text(_ call: ToolCallRecord) -> String {
        if let message = call.result["error"]?["message"]?.stringValue {
            return "\(call.name.replacingOccurrences(of: "_", with: " ")): \(message)"
        }
        let id = call.result["task"]?["id"]?.intValue.map(String.init) ?? "?"
        let title = call.result["task"]?["title"]?.stringValue ?? ""
        switch call.name {
        case "add_task": return "Added task \(id): \(title)"
        case "complete_task":
            return call.result["already_completed"]?.boolValue == true ? "Task \(id) was already done: \(title)" : "Completed task \(id): \(title)"
        case "delete_task": return "Deleted task \(id): \(title)"
        case "update_task": return "Updated task \(id): \(title)"
        case "restore_task": return "Restored task \(id): \(title)"
        case "list_tasks": return "Looked at your tasks (\(call.result["count"]?.intValue ?? 0))"
        default: return call.name
        }
    }
}
