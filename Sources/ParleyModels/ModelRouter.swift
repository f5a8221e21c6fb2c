import Foundation
import Logging
import ParleyCore
import Synchronization
import Tracing

/// A model provider as an operator configures it.
public struct ProviderConfiguration: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case openai
        case llamacpp
    }

    public var name: String
    public var kind: Kind
    public var baseURL: String
    public var model: String
    /// The environment variable holding the API key (never the key itself in configuration).
    public var apiKeyVariable: String?
    public var connectTimeout: Duration = .seconds(2)
    public var timeout: Duration = .seconds(60)
    /// External providers get pseudonymized prompts; by default OpenAI is external, llama.cpp not.
    public var external: Bool
    /// Caps every answer (`max_tokens`); small local models otherwise ramble to the context limit.
    public var maxTokens: Int?
    /// Set when Parley runs `llama-server` itself for this provider (then `baseURL` is its loopback address).
    public var launch: LlamaServerSettings?
    /// `.unknown`: probe the provider; `.tools` / `.textOnly`: the operator says so, no probe.
    public var declaredTools: ToolCapability = .unknown

    public init(name: String, kind: Kind, baseURL: String, model: String, apiKeyVariable: String? = nil, external: Bool? = nil) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.model = model
        self.apiKeyVariable = apiKeyVariable
        self.external = external ?? (kind == .openai)
    }
}

/// Skips a provider that failed `threshold` times within `window` for `coolDown`.
public final class CircuitBreaker: Sendable {
    public struct Policy: Sendable, Hashable {
        public var threshold = 3
        public var window: Duration = .seconds(30)
        public var coolDown: Duration = .seconds(30)

        public init(threshold: Int = 3, window: Duration = .seconds(30), coolDown: Duration = .seconds(30)) {
            self.threshold = threshold
            self.window = window
            self.coolDown = coolDown
        }
    }

    private struct State {
        var failures: [ContinuousClock.Instant] = []
        var openUntil: ContinuousClock.Instant?
    }

    let policy: Policy
    private let state = Mutex(State())

    init(policy: Policy) {
        self.policy = policy
    }

    func isOpen(at now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            guard let until = state.openUntil else { return false }
            if until <= now {
                state.openUntil = nil
                state.failures.removeAll()
                return false
            }
            return true
        }
    }

    /// Records a failure; returns true when it opened the breaker.
    func recordFailure(at now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            state.failures = state.failures.filter { $0 + policy.window > now } + [now]
            guard state.failures.count >= policy.threshold, state.openUntil == nil else { return false }
            state.openUntil = now + policy.coolDown
            return true
        }
    }

    func recordSuccess() {
        state.withLock { $0.failures.removeAll() }
    }
}

/// Whether a provider makes usable tool calls, as its probe found.
public enum ToolCapability: String, Sendable, Hashable {
    /// Not probed yet, or the probe could not reach it.
    case unknown
    /// Returned a valid tool call: gets the full agent.
    case tools
    /// Answered in words only: runs in hybrid mode (the basic agent takes task commands).
    case textOnly = "text_only"
}

/// One configured provider: its client, its breaker and what its probe found.
public final class ModelProvider: Sendable {
    public let configuration: ProviderConfiguration
    public let model: any ChatModel
    let breaker: CircuitBreaker
    private let probed: Mutex<ToolCapability>
    private struct Probing {
        /// The probe in flight, so concurrent callers share it.
        var task: Task<ToolCapability, Never>?
        /// After a probe that got no answer, requests do not wait for another one for a while.
        var retryAfter: ContinuousClock.Instant?
    }
    private let probing = Mutex(Probing())
    static let probeRetryInterval: Duration = .seconds(10)

    public init(configuration: ProviderConfiguration, model: any ChatModel, breaker: CircuitBreaker.Policy = .init()) {
        self.configuration = configuration
        self.model = model
        self.breaker = CircuitBreaker(policy: breaker)
        self.probed = Mutex(configuration.declaredTools)
    }

    public var name: String { configuration.name }
    public var capability: ToolCapability { probed.withLock { $0 } }
    public var isCoolingDown: Bool { breaker.isOpen() }

    /// What the provider can do, probing it first if nobody has yet (one probe at a time).
    public func toolCapability() async -> ToolCapability {
        let known = capability
        if known != .unknown { return known }
        let task = probing.withLock { state -> Task<ToolCapability, Never>? in
            if let running = state.task { return running }
            if let retryAfter = state.retryAfter, retryAfter > .now { return nil }
            let task = Task { [self] in
                let found = await ToolProbe.run(on: model, maxTokens: configuration.maxTokens)
                probed.withLock { $0 = found }
                probing.withLock {
                    $0.task = nil
                    $0.retryAfter = found == .unknown ? .now + Self.probeRetryInterval : nil
                }
                return found
            }
            state.task = task
            return task
        }
        return await task?.value ?? .unknown
    }

    /// Forget the probe's finding (a restarted local server may have loaded another model).
    public func forgetCapability() {
        probed.withLock { $0 = configuration.declaredTools }
        probing.withLock { $0.retryAfter = nil }
    }
}

/// A tiny tool request: a provider that answers it with a well-formed call of the offered tool
/// can run the agent loop; one that answers in words cannot.
enum ToolProbe {
    static let tool = ToolSpec(
        name: "add_task", description: "Add a task to the user's to-do list.",
        parameters: [
            "type": "object", "properties": ["title": ["type": "string", "description": "What to do"]], "required": ["title"],
        ])

    static func run(on model: any ChatModel, maxTokens: Int?) async -> ToolCapability {
        let request = ChatRequest(
            messages: [
                .system("You manage a to-do list with the tools given. Use a tool when asked."),
                .user("Add a task titled \"water the plants\"."),
            ],
            tools: [tool], toolChoice: .auto, maxTokens: min(maxTokens ?? 128, 128), temperature: 0)
        guard let response = try? await model.complete(request) else { return .unknown }
        guard let call = response.message.toolCalls?.first, call.function.name == tool.function.name,
            let arguments = try? JSONDecoder().decode(JSONValue.self, from: Data(call.function.arguments.utf8)),
            arguments["title"]?.stringValue?.isEmpty == false
        else { return .textOnly }
        return .tools
    }
}

/// Why one provider was passed over (as a turn's record keeps it).
public typealias FallbackRecord = TurnRecord.Fallback

/// Every provider of the route failed or was cooling down.
public struct AllProvidersFailed: Error, Sendable, CustomStringConvertible {
    public let fallbacks: [FallbackRecord]
    /// The calls that were made (providers cooling down were not called).
    public let calls: [ModelCallRecord]

    public var description: String {
        "no model answered: " + fallbacks.map { "\($0.provider) (\($0.reason))" }.joined(separator: ", ")
    }
}

/// The answer of the first provider of a route that gave a usable one.
public struct RoutedResponse: Sendable {
    public let response: ChatResponse
    public let provider: ModelProvider
    /// Providers tried before it, and why each was passed over.
    public let fallbacks: [FallbackRecord]
    /// Every call made on the way, the answering one last.
    public let calls: [ModelCallRecord]
}

/// Sends a request along a route of providers: the first usable answer wins; a timeout,
/// refused connection, 5xx, 429, malformed answer or an answer `validate` rejects falls
/// through to the next provider. Each fallback is logged and reported to `onFallback`, every call
/// made (answered or not) to `onCall`.
public final class ModelRouter: Sendable {
    public let providers: [String: ModelProvider]
    public let defaultRoute: [String]
    let logger: Logger
    let onFallback: @Sendable (FallbackRecord) -> Void
    let onCall: @Sendable (ModelCallRecord) -> Void

    public init(
        providers: [ModelProvider], defaultRoute: [String], logger: Logger,
        onFallback: @escaping @Sendable (FallbackRecord) -> Void = { _ in },
        onCall: @escaping @Sendable (ModelCallRecord) -> Void = { _ in }
    ) {
        self.providers = Dictionary(providers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.defaultRoute = defaultRoute
        self.logger = logger
        self.onFallback = onFallback
        self.onCall = onCall
    }

    /// The providers of `route` (or the default route), unknown names left out.
    public func resolve(_ route: [String]?) -> [ModelProvider] {
        let names = (route?.isEmpty == false ? route! : defaultRoute)
        return names.compactMap { providers[$0] }
    }

    /// The provider a request on `route` goes to first: the first one not cooling down.
    public func lead(of route: [String]?) -> ModelProvider? {
        resolve(route).first { !$0.isCoolingDown }
    }

    /// Probes every provider not probed yet; an unreachable one stays `unknown` and is probed
    /// again when a request needs it.
    public func probeAll() async {
        await withTaskGroup(of: Void.self) { group in
            for provider in providers.values {
                group.addTask {
                    let found = await provider.toolCapability()
                    self.logger.notice("model provider probed", metadata: ["provider": "\(provider.name)", "tools": "\(found.rawValue)"])
                }
            }
        }
    }

    /// Asks along the route. `request` is built per provider (external providers get a
    /// pseudonymized one); `validate` may reject an answer (e.g. a tool call that breaks its schema).
    /// `admission` (a budget) is asked before each provider is called and told what each call used.
    public func complete(
        route: [String]?, request: (ModelProvider) -> ChatRequest,
        validate: (ChatResponse) throws -> Void = { _ in }, admission: (any ModelCallAdmission)? = nil
    ) async throws -> RoutedResponse {
        try await along(route, request: request, validate: validate, admission: admission) { provider, request, _ in
            try await provider.model.complete(request)
        }
    }

    /// Like `complete`, streaming: each piece of text goes to `onText` as it arrives. A provider
    /// that fails mid-answer is passed over like any other, after `onRestart` has told the
    /// listener to drop the pieces it sent.
    public func stream(
        route: [String]?, request: (ModelProvider) -> ChatRequest, validate: (ChatResponse) throws -> Void = { _ in },
        admission: (any ModelCallAdmission)? = nil, onText: (ModelProvider, String) async -> Void, onRestart: () async -> Void
    ) async throws -> RoutedResponse {
        // Validated inside the attempt: an answer rejected after its text went out needs a restart too.
        try await along(route, request: request, validate: { _ in }, admission: admission) { provider, request, firstToken in
            var sentText = false
            let started = ContinuousClock.now
            do {
                for try await event in provider.model.stream(request) {
                    switch event {
                    case .text(let piece):
                        if !sentText { firstToken = .now - started }
                        sentText = true
                        await onText(provider, piece)
                    case .completed(let response):
                        try validate(response)
                        return response
                    }
                }
                throw ModelError.malformed("the stream ended without an answer")
            } catch {
                if sentText { await onRestart() }
                throw error
            }
        }
    }

    /// The first provider of the route whose `attempt` gives an answer `validate` accepts.
    private func along(
        _ route: [String]?, request: (ModelProvider) -> ChatRequest, validate: (ChatResponse) throws -> Void,
        admission: (any ModelCallAdmission)?,
        attempt: (ModelProvider, ChatRequest, _ firstToken: inout Duration?) async throws -> ChatResponse
    ) async throws -> RoutedResponse {
        var fallbacks: [FallbackRecord] = []
        var calls: [ModelCallRecord] = []
        for provider in resolve(route) {
            if provider.breaker.isOpen() {
                fallbacks.append(record(provider, "cooling_down", nil))
                continue
            }
            try await admission?.admit(provider)
            let request = request(provider)
            let started = ContinuousClock.now
            var firstToken: Duration?
            var response: ChatResponse?
            // The span is the current context during the call, so the request carries its traceparent.
            let span = startSpan(Telemetry.chat(model: provider.configuration.model), ofKind: .client)
            defer { span.end() }
            do {
                let answer = try await InstrumentationContext.$current.withValue(span.context) {
                    try await attempt(provider, request, &firstToken)
                }
                response = answer
                admission?.settle(
                    provider, inputTokens: answer.usage?.promptTokens ?? request.estimatedTokens,
                    outputTokens: answer.usage?.completionTokens ?? answer.estimatedTokens)
                try validate(answer)
                provider.breaker.recordSuccess()
                let call = ModelCallRecord(
                    provider: provider.name, requestModel: provider.configuration.model, responseModel: answer.model,
                    outcome: "ok", duration: .now - started, timeToFirstToken: firstToken, inputTokens: answer.usage?.promptTokens,
                    outputTokens: answer.usage?.completionTokens, finishReason: answer.finishReason)
                onCall(call)
                calls.append(call)
                Self.describe(span, call, kind: provider.configuration.kind, error: nil)
                return RoutedResponse(response: answer, provider: provider, fallbacks: fallbacks, calls: calls)
            } catch is CancellationError {
                if response == nil { admission?.settle(provider, inputTokens: 0, outputTokens: 0) }
                throw CancellationError()
            } catch let error as ModelError where error == .cancelled {
                if response == nil { admission?.settle(provider, inputTokens: 0, outputTokens: 0) }
                throw CancellationError()
            } catch {
                // A call that got no answer still counts (it reached the provider); its tokens are unknown.
                if response == nil { admission?.settle(provider, inputTokens: 0, outputTokens: 0) }
                let reason = (error as? ModelError)?.reason ?? (error as? InvalidToolCall).map { _ in "invalid_tool_call" } ?? "failed"
                // An answer rejected by `validate` still spent its tokens.
                let call = ModelCallRecord(
                    provider: provider.name, requestModel: provider.configuration.model, responseModel: response?.model,
                    outcome: reason, duration: .now - started, timeToFirstToken: firstToken, inputTokens: response?.usage?.promptTokens,
                    outputTokens: response?.usage?.completionTokens, finishReason: response?.finishReason)
                onCall(call)
                calls.append(call)
                Self.describe(span, call, kind: provider.configuration.kind, error: error)
                fallbacks.append(record(provider, reason, error))
                if provider.breaker.recordFailure() {
                    logger.warning(
                        "model provider cooling down after repeated failures",
                        metadata: ["provider": "\(provider.name)", "seconds": "\(provider.breaker.policy.coolDown.components.seconds)"])
                }
            }
        }
        throw AllProvidersFailed(fallbacks: fallbacks, calls: calls)
    }

    /// The GenAI attributes of a `chat {model}` span; a failed call is an error whose type is the
    /// fallback reason. No message text here: content, when captured, is on the agent's span.
    static func describe(_ span: any Span, _ call: ModelCallRecord, kind: ProviderConfiguration.Kind, error: (any Error)?) {
        span.attributes[Telemetry.operationName] = "chat"
        span.attributes[Telemetry.providerName] = kind == .llamacpp ? "llama.cpp" : "openai"
        span.attributes[Telemetry.provider] = call.provider
        span.attributes[Telemetry.requestModel] = call.requestModel
        span.attributes[Telemetry.responseModel] = call.responseModel
        span.attributes[Telemetry.inputTokens] = call.inputTokens
        span.attributes[Telemetry.outputTokens] = call.outputTokens
        if let reason = call.finishReason { span.attributes[Telemetry.finishReasons] = [reason] }
        if let error {
            span.attributes[Telemetry.fallbackReason] = call.outcome
            span.attributes[Telemetry.errorType] = call.outcome
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error, message: call.outcome))
        }
    }

    private func record(_ provider: ModelProvider, _ reason: String, _ error: (any Error)?) -> FallbackRecord {
        let record = FallbackRecord(provider: provider.name, reason: reason)
        var metadata: Logger.Metadata = ["provider": "\(provider.name)", "reason": "\(reason)"]
        if let error { metadata["error"] = "\(error)" }
        logger.warning("model provider passed over", metadata: metadata)
        onFallback(record)
        return record
    }
}

/// A tool call a model made that cannot be run as written (unknown tool, arguments that are not
/// JSON or break the tool's schema): the answer is rejected and the next provider asked.
public struct InvalidToolCall: Error, Sendable, CustomStringConvertible {
    public let tool: String
    public let problem: String

    public init(tool: String, problem: String) {
        self.tool = tool
        self.problem = problem
    }

    public var description: String { "tool call \(tool): \(problem)" }
}
