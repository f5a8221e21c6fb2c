import Foundation
import Logging
import MCP
import ParleyAgent
import ParleyCore
import ParleyModels
import Tracing

/// Who an MCP server instance acts for. Every MCP `Server` Parley builds is bound to exactly one
/// owner: its tool executor is that owner's `TaskService`, so a tool call can never reach another
/// user's or tenant's tasks, whatever the client writes into the arguments.
public struct MCPSessionOwner: Sendable, Hashable, CustomStringConvertible {
    public let issuer: String
    public let tenant: TenantID
    public let user: UserID

    public init(issuer: String, tenant: TenantID, user: UserID) {
        self.issuer = issuer
        self.tenant = tenant
        self.user = user
    }

    public init(principal: Principal, scope: Scope) {
        self.init(issuer: principal.issuer, tenant: scope.tenant, user: scope.user)
    }

    public var description: String { "\(tenant.rawValue)/\(user.rawValue)" }

    /// The value of `MCPToolServer.ownerHeader` in the HTTP requests the transports see.
    /// Percent-encoded so that no issuer or user string can break the header or fake a separator.
    var headerValue: String {
        [issuer, tenant.rawValue, user.rawValue]
            .map { $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }
            .joined(separator: ";")
    }
}

/// Builds MCP servers that expose Parley's task tools (`TaskTools.all`) and run them through a
/// `ToolExecutor`. Stateless: one value serves the whole process; `makeServer` makes one MCP
/// `Server` per session (stateful HTTP), per request (stateless HTTP) or per chat turn (in process).
public struct MCPToolServer: Sendable {
    public static let serverName = "parley"
    /// Parley's glue sets this header on the `MCP.HTTPRequest` it hands the transport (and strips
    /// it from what the client sent); a tool handler compares it with the owner it was built for.
    public static let ownerHeader = "X-Parley-MCP-Owner"
    /// Set the same way: Parley's request id and the client address, for the audit of a tool call.
    public static let requestIDHeader = "X-Parley-MCP-Request-ID"
    public static let clientIPHeader = "X-Parley-MCP-Client-IP"

    public let version: String
    public let tools: [ToolDefinition]
    /// Also send the result object as `structuredContent` (besides the JSON text content).
    public let structuredContent: Bool
    /// Called after every tool call with who called, what ran and what it returned: audit, metrics.
    public let onToolCall: (@Sendable (MCPToolCallEvent) async -> Void)?
    public let logger: Logger

    public init(
        version: String = ParleyBuild.version, tools: [ToolDefinition] = TaskTools.all, structuredContent: Bool = true,
        logger: Logger = Logger(label: "parley.mcp"),
        onToolCall: (@Sendable (MCPToolCallEvent) async -> Void)? = nil
    ) {
        self.version = version
        self.tools = tools
        self.structuredContent = structuredContent
        self.logger = logger
        self.onToolCall = onToolCall
    }

    static let instructions = """
        Parley's to-do tools for the signed-in user. Tasks are referred to by their number (task_id); \
        the user and tenant come from the credentials, never from arguments.
        """

    /// A new, not yet started MCP server whose `tools/call` runs `executor`.
    /// Start it with `try await server.start(transport:)`; stop it with `await server.stop()`
    /// (the server's receive loop holds the server until its transport closes or it is stopped).
    ///
    /// - Parameter owner: the principal `executor` is bound to; when the transport carries HTTP
    ///   context (the HTTP transports do, in-memory does not) every call is checked against it.
    public func makeServer(executor: any ToolExecutor, owner: MCPSessionOwner?) async -> MCP.Server {
        await makeServer(owner: owner) { _ in executor }
    }

    /// A server that picks the tools per call: `resolve` maps a call (its `_meta`) to the tools
    /// of the caller it names, or `nil` to refuse it.
    public func makeServer(
        owner: MCPSessionOwner?, resolve: @escaping @Sendable (CallTool.Parameters) -> (any ToolExecutor)?
    ) async -> MCP.Server {
        let server = MCP.Server(
            name: Self.serverName,
            version: version,
            title: "Parley tasks",
            instructions: Self.instructions,
            capabilities: .init(tools: .init(listChanged: false)),
            configuration: .default  // not strict: a stateless request may come without `initialize`
        )
        let listed = tools.map(Self.mcpTool)
        let logger = logger
        let expectedOwner = owner?.headerValue

        // `withMethodHandler` is isolated to the `Server` actor: `await` it. Handlers are
        // `@Sendable (M.Parameters) async throws -> M.Result`; capture only Sendable values.
        await server.withMethodHandler(ListTools.self) { _ in
            ListTools.Result(tools: listed)
        }
        await server.withMethodHandler(CallTool.self) { [self] params in
            // The HTTP request this call came in: a task-local the SDK sets for transports that
            // conform to `HTTPContextProviding` (both HTTP server transports); nil in memory.
            let http = MCP.Server.currentHandlerContext?.httpContext
            // Defence in depth: the registry already refused other principals' session ids.
            if let expectedOwner, let http, http.header(Self.ownerHeader) != expectedOwner {
                logger.error("MCP tool call on a server bound to another principal", metadata: ["tool": "\(params.name)"])
                throw MCPError.invalidRequest("this session belongs to another principal")
            }
            guard let executor = resolve(params) else {
                throw MCPError.invalidRequest("this call names no caller the server knows")
            }
            return try await call(
                params, executor: executor, owner: owner, requestID: http?.header(Self.requestIDHeader),
                clientIP: http?.header(Self.clientIPHeader))
        }
        return server
    }

    /// `tools/call`: what the server's handler does once the caller is known, and what the
    /// in-process provider calls directly (no JSON-RPC in between). An unknown tool is a protocol
    /// error (-32602), as the spec says, not a tool result.
    public func call(
        _ params: CallTool.Parameters, executor: any ToolExecutor, owner: MCPSessionOwner? = nil, requestID: String? = nil,
        clientIP: String? = nil
    ) async throws -> CallTool.Result {
        guard tools.contains(where: { $0.name == params.name }) else {
            throw MCPError.invalidParams("Unknown tool: \(params.name)")
        }
        // A remote caller's trace context comes in `_meta`; in process, the caller's task carries it.
        let caller = TracePropagation.context(from: (params._meta?.fields ?? [:]).compactMapValues(\.stringValue))
        return await withSpan(
            Telemetry.mcpToolsCall(params.name), context: caller ?? InstrumentationContext.current ?? .topLevel, ofKind: .server
        ) { span in
            span.attributes[Telemetry.mcpMethod] = "tools/call"
            span.attributes[Telemetry.toolName] = params.name
            let arguments = JSONValue.object((params.arguments ?? [:]).mapValues(JSONValue.init(mcpValue:)))
            let record = await executor.call(params.name, arguments: arguments)
            let failed = record.result["error"] != nil
            span.attributes[Telemetry.toolOutcome] = failed ? "error" : "ok"
            if failed { span.setStatus(SpanStatus(code: .error)) }
            await onToolCall?(MCPToolCallEvent(owner: owner, record: record, requestID: requestID, clientIP: clientIP))
            return Self.result(for: record.result, structured: structuredContent)
        }
    }

    /// Serves the tools over stdio (newline-delimited JSON-RPC on stdin/stdout) until stdin closes:
    /// `parley mcp --stdio --tenant acme --user alice` for a local desktop client. The caller is
    /// whoever runs the process (no token), so bind `executor` to the user given on the command
    /// line, and log to stderr: anything else on stdout breaks the protocol.
    public func runStdio(executor: any ToolExecutor) async throws {
        let server = await makeServer(executor: executor, owner: nil)
        try await server.start(transport: StdioTransport(logger: logger))
        await server.waitUntilCompleted()
        await server.stop()
    }

    /// A Parley tool definition as an MCP `Tool`, with behaviour hints.
    public static func mcpTool(_ definition: ToolDefinition) -> Tool {
        Tool(
            name: definition.name,
            description: definition.description,
            inputSchema: definition.inputSchema.mcpValue,
            annotations: annotations(for: definition.name)
        )
    }

    static func annotations(for name: String) -> Tool.Annotations {
        switch name {
        case TaskTools.listTasks.name:
            return Tool.Annotations(readOnlyHint: true, openWorldHint: false)
        case TaskTools.deleteTask.name:
            return Tool.Annotations(readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false)
        case TaskTools.completeTask.name:
            return Tool.Annotations(readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false)
        default:
            return Tool.Annotations(readOnlyHint: false, destructiveHint: false, openWorldHint: false)
        }
    }

    /// The executor's result as an MCP tool result: the JSON as text content, the object as
    /// `structuredContent`, and `isError` when the result has an `error` member (a tool error the
    /// model should read, which the spec puts in the result, not in a JSON-RPC error).
    public static func result(for value: JSONValue, structured: Bool = true) -> CallTool.Result {
        let isError = value["error"] != nil
        // Typed as `Value?` on purpose: `CallTool.Result` also has a generic, *throwing*
        // `init<Output: Codable>(content:structuredContent: Output, ...)`; an optional argument
        // makes the non-generic `init(content:structuredContent: Value?, isError:_meta:)` win.
        let structuredValue: MCP.Value? = (structured && value.objectValue != nil) ? value.mcpValue : nil
        return CallTool.Result(
            content: [.text(text: value.jsonText, annotations: nil, _meta: nil)],
            structuredContent: structuredValue,
            isError: isError
        )
    }
}

/// One tool call served over MCP, for audit and metrics.
public struct MCPToolCallEvent: Sendable {
    public let owner: MCPSessionOwner?
    public let record: ToolCallRecord
    /// Parley's request id and client address of the HTTP request (nil in process).
    public let requestID: String?
    public let clientIP: String?

    public var failed: Bool { record.result["error"] != nil }
}
