import Foundation
import ParleyCore

/// The `messages.tool_calls` column: the calls as JSON text, `[]` for the many messages without.
/// Reading a turn's context decodes twenty of them, so the empty list skips the decoder, and the
/// coders are made once.
enum ToolCallsColumn {
    private static let decoder = JSONDecoder()
    private static let encoder = JSONEncoder()

    static func decode(_ text: String) throws -> [ToolCallRecord] {
        if text == "[]" { return [] }
        return try decoder.decode([ToolCallRecord].self, from: Data(text.utf8))
    }

    static func encode(_ calls: [ToolCallRecord]) throws -> String {
        if calls.isEmpty { return "[]" }
        return String(decoding: try encoder.encode(calls), as: UTF8.self)
    }
}
