import Foundation
import ParleyCore
import ParleyModels
import ParleyPrivacy
import Tracing

/// The agent loop with a language model: model → tool calls → results → model, at most
/// `maxTurns` model calls. Tool arguments are checked against the tool's JSON Schema before
/// anything runs (an answer that breaks them is rejected and the next provider asked); tool
/// errors go back to the model as results. When no provider answers, the basic agent does,
/// and says that the AI is unavailable.
///
/// Hybrid mode: when the route's lead provider cannot call tools (its probe answered in words),
/// the basic agent handles the messages it recognises (task commands, and greetings and questions
/// about what it can do, which it answers truthfully) and the model, offered no tools, the rest.
public struct ModelAgent: ChatAgent {
    public static let defaultMaxTurns = 6

    let router: ModelRouter
    /// Provider names in order; `nil` or empty: the router's default route.
    let route: [String]?
    let maxTurns: Int
    let tools: [ToolDefinition]
    let fallback: BasicAgent
    /// The turn's budget: asked before every model call.
    let budget: TurnBudget?

    public init(
        router: ModelRouter, route: [String]? = nil, maxTurns: Int = defaultMaxTurns, tools: [ToolDefinition] = TaskTools.all,
        budget: TurnBudget? = nil
    ) {
        self.router = router
        self.route = route
        self.maxTurns = max(1, maxTurns)
        self.tools = tools
        self.fallback = BasicAgent()
        self.budget = budget
    }

    /// The same agent on another route (a tenant's `model.route` flag).
    public func routed(_ route: [String]) -> ModelAgent {
        ModelAgent(router: router, route: route.isEmpty ? self.route : route, maxTurns: maxTurns, tools: tools, budget: budget)
    }

    /// The same agent with a turn's budget.
    public func budgeted(_ budget: TurnBudget?) -> ModelAgent {
        ModelAgent(router: router, route: route, maxTurns: maxTurns, tools: tools, budget: budget)
    }

    static let systemPrompt = """
        You are Parley, a concise assistant that manages the user's to-do list with the tools given. \
        Use a tool whenever the user asks to add, list, complete, update or delete tasks; tasks are \
        referred to by their number (task_id). Answer in one or two short sentences.
        """

    static let textOnlyPrompt = """
        You are Parley, a concise assistant in a to-do app. You cannot change the user's tasks yourself; \
        they can ask you with commands like "add a task to buy milk", "list my tasks" or "mark task 2 as done". \
        Answer in one or two short sentences.
        """

    static let unavailableNotice = "The AI assistant is unavailable right now, so I handled this with basic commands."
    public static let budgetNotice = "This month's AI budget is used up, so I handled this with basic commands."

    /// Whether the basic agent would act on `message`: a task command, or the answer to its own question.
    static func isTaskCommand(_ message: String, history: [Message]) -> Bool {
        let command = CommandParser.parse(message)
        return command == .confirm || command == .decline ? BasicAgent.isAwaitingAnswer(history) : command != .unknown
    }

    public func respond(
        to message: String, history: [Message], tools executor: any ToolExecutor, events: AgentEventSink? = nil
    ) async throws -> AgentReply {
        // With a model that cannot call tools, task commands (and the answer to the basic agent's
        // own question) go to the basic agent. Parsed only then: the parser's regular expressions
        // cost a tool-calling turn about a seventh of its CPU.
        if let lead = router.lead(of: route), await lead.toolCapability() == .textOnly, Self.isTaskCommand(message, history: history) {
            return try await fallback.respond(to: message, history: history, tools: executor, events: events)
        }
        var messages: [ChatMessage] = [.system(Self.systemPrompt)]
        for earlier in history { messages.append(earlier.role == .user ? .user(earlier.content) : .assistant(earlier.content)) }
        messages.append(.user(message))
        let specs = tools.map { ToolSpec(name: $0.name, description: $0.description, parameters: $0.inputSchema) }
        // External providers see placeholders for PII; the same value keeps its placeholder
        // through the whole exchange, and answers are mapped back before they are used.
        let pseudonymizing = router.resolve(route).contains { $0.configuration.external }
        var pseudonyms = PseudonymMap()
        var hidden: [ChatMessage] = []
        func request(for provider: ModelProvider, offering offered: [ToolSpec]) -> ChatRequest {
            let maxTokens = provider.configuration.maxTokens
            let messages = provider.configuration.external ? hidden : messages
            // What a provider that cannot call tools gets: no tools, and a prompt that does not promise them.
            guard provider.capability != .textOnly else {
                var plain = messages.filter { $0.role != .tool && $0.toolCalls == nil }
                plain[0] = .system(Self.textOnlyPrompt)
                return ChatRequest(messages: plain, maxTokens: maxTokens)
            }
            return ChatRequest(messages: messages, tools: offered, toolChoice: offered.isEmpty ? nil : .auto, maxTokens: maxTokens)
        }

        // Streaming: the reply's text is exactly what was reported, piece by piece.
        var streamed = ""
        var restorer = StreamingRestorer(map: pseudonyms)
        func report(_ piece: String) async {
            guard !piece.isEmpty else { return }
            streamed += piece
            await events?(.text(piece))
        }
        /// The reply's text: `candidate` when not streaming; when streaming, what was reported
        /// (with `candidate` reported first if nothing was).
        func finalText(_ candidate: String) async -> String {
            guard events != nil else { return candidate }
            if streamed.isEmpty { await report(candidate) }
            return streamed
        }

        var records: [ToolCallRecord] = []
        var lastModel = ""
        var fellBack = false
        // What the turn's record keeps: every model call and fallback of every round.
        var trail = TurnRecord()
        func reply(_ text: String, model: String, fallbackUsed: Bool) -> AgentReply {
            AgentReply(text: text, toolCalls: records, model: model, fallbackUsed: fallbackUsed, record: trail)
        }
        for turn in 1...maxTurns {
            let routed: RoutedResponse
            do {
                // The last turn offers no tools, so the model has to answer in words.
                let offered = turn == maxTurns ? [] : specs
                if pseudonymizing {
                    withSpan(Telemetry.pseudonymize) { span in
                        hidden = messages.map { pseudonyms.pseudonymize($0) }
                        for (kind, count) in pseudonyms.counts { span.attributes[Telemetry.piiCount(kind)] = count }
                    }
                }
                if let events {
                    restorer = StreamingRestorer(map: pseudonyms)
                    routed = try await router.stream(
                        route: route, request: { request(for: $0, offering: offered) }, validate: validate, admission: budget?.admission,
                        onText: { provider, piece in await report(provider.configuration.external ? restorer.feed(piece) : piece) },
                        onRestart: {
                            restorer.reset()
                            streamed = ""
                            await events(.restart)
                        })
                    if routed.provider.configuration.external { await report(restorer.finish()) }
                } else {
                    routed = try await router.complete(
                        route: route, request: { request(for: $0, offering: offered) }, validate: validate, admission: budget?.admission)
                }
            } catch let exhausted as BudgetExhausted {
                trail.provider = nil
                if !records.isEmpty {
                    return reply(await finalText(Self.summary(of: records)), model: lastModel, fallbackUsed: true)
                }
                // Nothing ran yet: the turn is refused (429), or the basic agent answers it.
                guard budget?.onExhausted == .basic else { throw exhausted }
                let basic = try await fallback.respond(to: message, history: history, tools: executor)
                records = basic.toolCalls
                return reply(await finalText(Self.budgetNotice + "\n\n" + basic.text), model: basic.model, fallbackUsed: true)
            } catch let failure as AllProvidersFailed {
                trail.note(failure.fallbacks, calls: failure.calls)
                trail.provider = nil
                // Tools already ran this turn: say what they did rather than run the command again.
                if !records.isEmpty {
                    return reply(await finalText(Self.summary(of: records)), model: lastModel, fallbackUsed: true)
                }
                let basic = try await fallback.respond(to: message, history: history, tools: executor)
                records = basic.toolCalls
                return reply(await finalText(Self.unavailableNotice + "\n\n" + basic.text), model: basic.model, fallbackUsed: true)
            }
            trail.note(routed.fallbacks, calls: routed.calls)
            trail.provider = routed.provider.name
            lastModel = routed.provider.configuration.model
            fellBack = fellBack || !routed.fallbacks.isEmpty
            let answer = routed.provider.configuration.external ? pseudonyms.restore(routed.response.message) : routed.response.message
            guard let calls = answer.toolCalls, !calls.isEmpty else {
                let text = (answer.content ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                return reply(
                    await finalText(text.isEmpty && !records.isEmpty ? Self.summary(of: records) : text), model: lastModel, fallbackUsed: fellBack)
            }
            messages.append(answer)
            for call in calls {
                let arguments = Self.arguments(call) ?? [:]
                let record = await executor.call(call.function.name, arguments: arguments)
                records.append(record)
                messages.append(.tool(Self.compact(record.result), callID: call.id))
            }
        }
        return reply(await finalText(Self.summary(of: records)), model: lastModel, fallbackUsed: fellBack)
    }

    /// Rejects an answer whose tool calls cannot run as written.
    func validate(_ response: ChatResponse) throws {
        for call in response.message.toolCalls ?? [] {
            guard let tool = tools.first(where: { $0.name == call.function.name }) else {
                throw InvalidToolCall(tool: call.function.name, problem: "no such tool")
            }
            guard let arguments = Self.arguments(call) else {
                throw InvalidToolCall(tool: tool.name, problem: "arguments are not a JSON object")
            }
            if let problem = JSONSchemaValidator.problem(with: arguments, against: tool.inputSchema) {
                throw InvalidToolCall(tool: tool.name, problem: problem)
            }
        }
    }

    static func arguments(_ call: ToolCall) -> JSONValue? {
        let text = call.function.arguments.trimmingCharacters(in: .whitespaces)
        if text.isEmpty { return [:] }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)), case .object = value else { return nil }
        return value
    }

    static func compact(_ value: JSONValue) -> String {
        String(decoding: (try? JSONEncoder().encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Words for tool results when the model gives none.
    static func summary(of records: [ToolCallRecord]) -> String {
        records.map { record in
            if let message = record.result["error"]?["message"]?.stringValue { return "\(record.name) failed: \(message)." }
            if let task = record.result["task"], let id = task["id"]?.intValue, let title = task["title"]?.stringValue {
                return "\(record.name.replacingOccurrences(of: "_", with: " ")): task \(id), \(title)."
            }
            if let tasks = record.result["tasks"]?.arrayValue { return "You have \(tasks.count) task\(tasks.count == 1 ? "" : "s")." }
            return "Done: \(record.name)."
        }.joined(separator: " ")
    }
}

extension TurnRecord {
    /// Adds one routing's fallbacks and calls to the turn's.
    mutating func note(_ passedOver: [FallbackRecord], calls: [ModelCallRecord]) {
        fallbacks += passedOver
        modelCalls += calls
    }
}
