import Foundation
import ParleyPrivacy

/// PII pseudonymization of Chat Completions messages, for providers marked external: what the
/// user, the tools and earlier answers said goes out with placeholders; what comes back (text and
/// tool-call arguments) gets the real values again before anything uses, stores or shows it.
extension PseudonymMap {
    /// The message as an external provider may see it. Parley's own system prompt carries no
    /// user data and is left alone.
    public mutating func pseudonymize(_ message: ChatMessage) -> ChatMessage {
        guard message.role != .system else { return message }
        var hidden = message
        hidden.content = message.content.map { pseudonymize($0) }
        hidden.toolCalls = message.toolCalls?.map { call in
            var call = call
            call.function.arguments = pseudonymize(call.function.arguments)
            return call
        }
        return hidden
    }

    /// A provider's answer with the real values back.
    public func restore(_ message: ChatMessage) -> ChatMessage {
        guard !isEmpty else { return message }
        var restored = message
        restored.content = message.content.map { restore($0) }
        restored.toolCalls = message.toolCalls?.map { call in
            var call = call
            call.function.arguments = restore(call.function.arguments)
            return call
        }
        return restored
    }
}

/// Restores placeholders in streamed text, where a placeholder may be split across pieces: the
/// trailing run that could still be (part of) one is held back until whitespace or punctuation
/// ends it. Placeholders never contain whitespace, so every piece is restored whole.
public struct StreamingRestorer: Sendable {
    let map: PseudonymMap
    private var pending = ""

    public init(map: PseudonymMap) {
        self.map = map
    }

    /// The restored text that is certain so far.
    public mutating func feed(_ piece: String) -> String {
        guard !map.isEmpty else { return piece }
        pending += piece
        let cut = pending.lastIndex { !Self.mayBeInPlaceholder($0) }.map { pending.index(after: $0) } ?? pending.startIndex
        let ready = String(pending[..<cut])
        pending = String(pending[cut...])
        return map.restore(ready)
    }

    /// Whatever was held back, restored: call once the text is complete.
    public mutating func finish() -> String {
        defer { pending = "" }
        return map.restore(pending)
    }

    /// Forget what was held back (the answer is starting over).
    public mutating func reset() {
        pending = ""
    }

    static func mayBeInPlaceholder(_ character: Character) -> Bool {
        character.isLetter || character.isNumber || "_<>[]{}".contains(character)
    }
}
