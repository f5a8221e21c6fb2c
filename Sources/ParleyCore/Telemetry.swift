import Synchronization

/// The names of Parley's spans and span attributes, in one place.
///
/// The `gen_ai.*` names follow OpenTelemetry's semantic conventions for generative AI, which are
/// still experimental (and which the Swift semantic-conventions package marks deprecated): Parley
/// keeps them here as its own constants, so a change of the conventions is a change of this file.
/// `parley.*` names are Parley's own.
public enum Telemetry {
    // MARK: Span names

    /// One chat turn of the agent.
    public static let invokeAgent = "invoke_agent parley"
    /// One call to a model provider.
    public static func chat(model: String) -> String { "chat \(model)" }
    /// One tool call of the agent.
    public static func executeTool(_ name: String) -> String { "execute_tool \(name)" }
    /// The MCP server handling one `tools/call`.
    public static func mcpToolsCall(_ name: String) -> String { "tools/call \(name)" }
    /// Replacing personal data in a prompt by placeholders.
    public static let pseudonymize = "pseudonymize"

    // MARK: GenAI attributes

    public static let operationName = "gen_ai.operation.name"
    /// `openai`, `llama.cpp`: the kind of provider.
    public static let providerName = "gen_ai.provider.name"
    public static let requestModel = "gen_ai.request.model"
    public static let responseModel = "gen_ai.response.model"
    public static let inputTokens = "gen_ai.usage.input_tokens"
    public static let outputTokens = "gen_ai.usage.output_tokens"
    public static let finishReasons = "gen_ai.response.finish_reasons"
    public static let agentName = "gen_ai.agent.name"
    public static let conversationID = "gen_ai.conversation.id"
    public static let toolName = "gen_ai.tool.name"
    public static let toolType = "gen_ai.tool.type"
    /// Content, only with `otel.captureContent` on, and pseudonymized.
    public static let inputMessages = "gen_ai.input.messages"
    public static let outputMessages = "gen_ai.output.messages"
    public static let toolCallArguments = "gen_ai.tool.call.arguments"
    public static let toolCallResult = "gen_ai.tool.call.result"

    // MARK: Parley's own

    /// The configured name of the provider (`model.providers`).
    public static let provider = "parley.model.provider"
    /// Why a provider was passed over (`timeout`, `server_error`, …); on a failed `chat` span.
    public static let fallbackReason = "parley.fallback.reason"
    /// Whether a fallback answered the turn, on the `invoke_agent` span.
    public static let fallbackUsed = "parley.fallback_used"
    /// `ok` or `error`, on `execute_tool` spans.
    public static let toolOutcome = "parley.tool.outcome"
    public static let tenant = "parley.tenant"
    /// Placeholders handed out per kind of personal data: `parley.pii.email` = 2. Never values.
    public static func piiCount(_ kind: String) -> String { "parley.pii." + kind.lowercased() }

    // MARK: Other conventions

    public static let errorType = "error.type"
    /// `db.system` is the older name that many trace viewers still show; both are set.
    public static let dbSystem = "db.system"
    public static let dbSystemName = "db.system.name"
    public static let dbOperation = "db.operation.name"
    public static let dbCollection = "db.collection.name"
    public static let dbNamespace = "db.namespace"
    public static let mcpMethod = "mcp.method.name"

    /// Whether spans carry message text, tool arguments and results (pseudonymized):
    /// `otel.captureContent`, set once at start.
    public static var capturesContent: Bool { captureContent.load(ordering: .relaxed) }
    public static func setCapturesContent(_ on: Bool) { captureContent.store(on, ordering: .relaxed) }
    private static let captureContent = Atomic<Bool>(false)
}
