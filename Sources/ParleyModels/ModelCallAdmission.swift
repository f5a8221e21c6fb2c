import ParleyCore

/// Lets a turn's model calls through one by one (a budget): asked before every provider call,
/// told after it what it used. The router knows nothing of budgets; the turn brings its own.
public protocol ModelCallAdmission: Sendable {
    /// Before `provider` is called. Throws (`BudgetExhausted`) to call no provider at all: unlike a
    /// provider's failure, a refusal is not a fallback to the next one.
    func admit(_ provider: ModelProvider) async throws
    /// After the call, answered or not: the tokens it used, as the provider reported them or as
    /// estimated from the text when it reported none.
    func settle(_ provider: ModelProvider, inputTokens: Int, outputTokens: Int)
}

extension ChatRequest {
    /// About four characters a token: what an answer without `usage` is counted as.
    var estimatedTokens: Int {
        var characters = 0
        for message in messages {
            characters += message.content?.count ?? 0
            for call in message.toolCalls ?? [] { characters += call.function.name.count + call.function.arguments.count }
        }
        for tool in tools { characters += tool.function.name.count + tool.function.description.count + 64 }
        return max(1, characters / 4)
    }
}

extension ChatResponse {
    var estimatedTokens: Int {
        var characters = message.content?.count ?? 0
        for call in message.toolCalls ?? [] { characters += call.function.name.count + call.function.arguments.count }
        return max(1, characters / 4)
    }
}
