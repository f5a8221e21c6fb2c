import Foundation

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
