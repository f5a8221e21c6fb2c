import Foundation

/// One call of a chat turn to a model provider, answered or not: what metrics and traces record
/// of it, and what a turn's record keeps for an operator debugging that turn.
public struct ModelCallRecord: Sendable, Hashable, Codable {
    public var provider: String
    /// The model Parley asked for (the provider's configured model).
    public var requestModel: String
    /// The model that answered, as the server named it; `nil` when none did.
    public var responseModel: String?
    /// `ok`, or why the provider was passed over (`timeout`, `server_error`, `invalid_tool_call`, …).
    public var outcome: String
    public var duration: Duration
    /// Streamed answers: from the request to the first piece of text.
    public var timeToFirstToken: Duration?
    /// Tokens as the provider counted them (`usage`); `nil` when it sent none.
    public var inputTokens: Int?
    public var outputTokens: Int?
    public var finishReason: String?

    public init(
        provider: String, requestModel: String, responseModel: String? = nil, outcome: String, duration: Duration,
        timeToFirstToken: Duration? = nil, inputTokens: Int? = nil, outputTokens: Int? = nil, finishReason: String? = nil
    ) {
        self.provider = provider
        self.requestModel = requestModel
        self.responseModel = responseModel
        self.outcome = outcome
        self.duration = duration
        self.timeToFirstToken = timeToFirstToken
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.finishReason = finishReason
    }

    enum CodingKeys: String, CodingKey {
        case provider, outcome
        case requestModel = "request_model"
        case responseModel = "response_model"
        case duration = "duration_ms"
        case timeToFirstToken = "time_to_first_token_ms"
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case finishReason = "finish_reason"
    }

    // Durations are milliseconds in JSON (the stored record, the admin API), not Swift's encoding.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        provider = try container.decode(String.self, forKey: .provider)
        requestModel = try container.decode(String.self, forKey: .requestModel)
        responseModel = try container.decodeIfPresent(String.self, forKey: .responseModel)
        outcome = try container.decode(String.self, forKey: .outcome)
        duration = .fromMilliseconds(try container.decode(Double.self, forKey: .duration))
        timeToFirstToken = try container.decodeIfPresent(Double.self, forKey: .timeToFirstToken).map(Duration.fromMilliseconds)
        inputTokens = try container.decodeIfPresent(Int.self, forKey: .inputTokens)
        outputTokens = try container.decodeIfPresent(Int.self, forKey: .outputTokens)
        finishReason = try container.decodeIfPresent(String.self, forKey: .finishReason)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(provider, forKey: .provider)
        try container.encode(requestModel, forKey: .requestModel)
        try container.encodeIfPresent(responseModel, forKey: .responseModel)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(duration.milliseconds, forKey: .duration)
        try container.encodeIfPresent(timeToFirstToken?.milliseconds, forKey: .timeToFirstToken)
        try container.encodeIfPresent(inputTokens, forKey: .inputTokens)
        try container.encodeIfPresent(outputTokens, forKey: .outputTokens)
        try container.encodeIfPresent(finishReason, forKey: .finishReason)
    }
}

/// How one answer came about, kept with the assistant message so that an operator can see what
/// happened in a turn a user reports: which provider answered after which fallbacks, every model
/// call with its latency and tokens, how long the turn took, and the ids that find its log lines,
/// audit events and trace. Message text and tool arguments are not repeated here.
public struct TurnRecord: Sendable, Hashable, Codable {
    /// The provider that answered; `nil` when the basic agent did.
    public var provider: String?
    /// Providers passed over, in order, and why (`cooling_down` ones were not called).
    public var fallbacks: [Fallback]
    public var modelCalls: [ModelCallRecord]
    /// The agent's time for the turn: model calls and tools, not the request's reading or storing.
    public var duration: Duration
    /// The request that asked (`X-Request-ID`), which its access log line and audit events carry.
    public var requestID: String?
    /// The W3C trace id of the request, when it was traced.
    public var traceID: String?

    /// Why one provider was passed over.
    public struct Fallback: Sendable, Hashable, Codable {
        public var provider: String
        /// `timeout`, `unreachable`, `server_error`, `rate_limited`, `client_error`, `malformed`,
        /// `invalid_tool_call`, `cooling_down`, …
        public var reason: String

        public init(provider: String, reason: String) {
            self.provider = provider
            self.reason = reason
        }
    }

    public init(
        provider: String? = nil, fallbacks: [Fallback] = [], modelCalls: [ModelCallRecord] = [], duration: Duration = .zero,
        requestID: String? = nil, traceID: String? = nil
    ) {
        self.provider = provider
        self.fallbacks = fallbacks
        self.modelCalls = modelCalls
        self.duration = duration
        self.requestID = requestID
        self.traceID = traceID
    }

    enum CodingKeys: String, CodingKey {
        case provider, fallbacks
        case modelCalls = "model_calls"
        case duration = "duration_ms"
        case requestID = "request_id"
        case traceID = "trace_id"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        provider = try container.decodeIfPresent(String.self, forKey: .provider)
        fallbacks = try container.decodeIfPresent([Fallback].self, forKey: .fallbacks) ?? []
        modelCalls = try container.decodeIfPresent([ModelCallRecord].self, forKey: .modelCalls) ?? []
        duration = .fromMilliseconds(try container.decodeIfPresent(Double.self, forKey: .duration) ?? 0)
        requestID = try container.decodeIfPresent(String.self, forKey: .requestID)
        traceID = try container.decodeIfPresent(String.self, forKey: .traceID)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(provider, forKey: .provider)
        try container.encode(fallbacks, forKey: .fallbacks)
        try container.encode(modelCalls, forKey: .modelCalls)
        try container.encode(duration.milliseconds, forKey: .duration)
        try container.encodeIfPresent(requestID, forKey: .requestID)
        try container.encodeIfPresent(traceID, forKey: .traceID)
    }
}

extension Duration {
    /// Milliseconds, to the microsecond, for JSON.
    public var milliseconds: Double {
        let (seconds, attoseconds) = components
        return (Double(seconds) * 1e6 + Double(attoseconds / 1_000_000_000_000)) / 1e3
    }

    /// The inverse of `milliseconds`: whole microseconds, so a duration survives a round trip.
    static func fromMilliseconds(_ milliseconds: Double) -> Duration {
        .microseconds(Int64((milliseconds * 1_000).rounded()))
    }
}
