import AsyncHTTPClient
import Foundation
import Logging
import MCP
import ParleyAgent
import ParleyCore
import ParleyModels
import Synchronization

/// The agent's tools reached through MCP: a `ToolExecutor` that sends `tools/call` to an MCP
/// server — over Streamable HTTP to a separate `parley mcp` service (`mcp.url`), or in memory
/// (an `InMemoryTransport` pair, as the tests use it; chat turns in process go through
/// `MCPInProcessToolProvider`, without a transport). Never throws from `call`: failures become
/// `{"error": {"code", "message"}}` results, like `TaskToolExecutor`'s.
///
/// Lifecycle: `close()` a client made with `inProcess` or `http` when done.
public struct MCPToolClient: ToolExecutor {
    public static let clientName = "parley-agent"

    public let client: MCP.Client
    /// The in-process server, stopped by `close()`; `nil` for a remote server.
    let server: MCP.Server?
    /// How long one tool call may take. The SDK's `Client` has no request timeout of its own.
    public let timeout: Duration

    init(client: MCP.Client, server: MCP.Server?, timeout: Duration) {
        self.client = client
        self.server = server
        self.timeout = timeout
    }

    // MARK: - Making one

    /// A server bound to `executor` and a client, connected in memory.
    public static func inProcess(
        executor: any ToolExecutor, owner: MCPSessionOwner? = nil, toolServer: MCPToolServer = MCPToolServer(),
        timeout: Duration = .seconds(30)
    ) async throws -> MCPToolClient {
        let (clientTransport, serverTransport) = await InMemoryTransport.createConnectedPair()
        let server = await toolServer.makeServer(executor: executor, owner: owner)
        // Start the server first: an InMemoryTransport drops what reaches it before `connect()`,
        // and `Client.connect` sends `initialize` and waits for the answer.
        try await server.start(transport: serverTransport)
        let client = MCP.Client(name: clientName, version: toolServer.version)
        do {
            try await client.connect(transport: clientTransport)  // runs initialize + notifications/initialized
        } catch {
            await server.stop()
            throw error
        }
        return MCPToolClient(client: client, server: server, timeout: timeout)
    }

    /// A client of a Streamable HTTP MCP endpoint (a `parley mcp` service), with the caller's own
    /// bearer token (its audience must accept that service) and tenant.
    ///
    /// Uses `StreamableHTTPClientTransport` (AsyncHTTPClient), which reads both JSON and SSE
    /// responses. The SDK's `HTTPClientTransport` cannot read SSE responses on Linux (it hands the
    /// raw `text/event-stream` body to the client as if it were one JSON message, and the call then
    /// never completes), so it only works on Linux against a server that answers with JSON.
    public static func http(
        endpoint: String, bearerToken: String, tenant: TenantID?, timeout: Duration = .seconds(30),
        httpClient: HTTPClient = .shared, logger: Logger? = nil
    ) async throws -> MCPToolClient {
        var headers = ["Authorization": "Bearer \(bearerToken)"]
        if let tenant { headers["X-Tenant-ID"] = tenant.rawValue }
        let transport = StreamableHTTPClientTransport(
            endpoint: endpoint, headers: headers, httpClient: httpClient,
            headTimeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000), logger: logger)
        let client = MCP.Client(name: clientName, version: "1.0.0")
        do {
            try await client.connect(transport: transport)
        } catch {
            // Ends the client's receive loop, which would otherwise wait on the transport forever.
            await client.disconnect()
            throw error
        }
        return MCPToolClient(client: client, server: nil, timeout: timeout)
    }

    /// Disconnects the client (and stops the in-process server).
    public func close() async {
        await client.disconnect()
        await server?.stop()
    }

    // MARK: - ToolExecutor

    public func call(_ name: String, arguments: JSONValue) async -> ToolCallRecord {
        // The trace context goes in `_meta` too (MCP's convention): the server's handler does not
        // run in the HTTP request's task, so the headers alone would not reach it.
        let trace = TracePropagation.currentFields()
        return await call(name, arguments: arguments, meta: trace.isEmpty ? nil : Metadata(additionalFields: trace.mapValues { .string($0) }))
    }

    /// A call with `_meta` (MCP's request metadata).
    func call(_ name: String, arguments: JSONValue, meta: Metadata?) async -> ToolCallRecord {
        let result: JSONValue
        do {
            let answer = try await callTool(name, arguments: arguments.mcpArguments, meta: meta)
            result = Self.json(from: answer)
        } catch let error as MCPToolClientError {
            result = Self.error(code: "unavailable", message: error.message)
        } catch let error as MCPError {
            result = Self.result(for: error, tool: name)
        } catch {
            result = Self.error(code: "unavailable", message: "the tool server is unavailable, try again")
        }
        return ToolCallRecord(name: name, arguments: arguments, result: result)
    }

    /// `tools/call` with a deadline. On timeout the pending request is cancelled through the
    /// client (the SDK resumes it with `CancellationError` and sends `notifications/cancelled`):
    /// a task group waits for all its children, and `pending.value` ignores task cancellation.
    func callTool(_ name: String, arguments: [String: MCP.Value]?, meta: Metadata? = nil) async throws -> CallTool.Result {
        // `Client.send(_:)` is synchronous and throwing on the actor; it returns the SDK's
        // `RequestContext<CallTool.Result>` (its `value` awaits the answer). Not `callTool(...)`:
        // that returns only `(content, isError)` and drops `structuredContent`.
        let pending = try await client.send(CallTool.request(.init(name: name, arguments: arguments, meta: meta)))
        let client = self.client
        let timeout = self.timeout
        return try await withThrowingTaskGroup(of: CallTool.Result?.self) { group in
            group.addTask { try await pending.value }
            group.addTask {
                try await Task.sleep(for: timeout)  // throws CancellationError once the answer came
                return nil
            }
            // Rethrows the first child error (an MCPError from the server, a transport error).
            let first = try await group.next()
            if case .some(.some(let result)) = first {
                group.cancelAll()
                return result
            }
            // The sleep finished first: release the waiting child, then report the timeout.
            try? await client.cancelRequest(pending.requestID, reason: "timed out")
            group.cancelAll()
            throw MCPToolClientError(message: "the tool server did not answer within \(timeout)")
        }
    }

    /// A tool result as the JSON the agent stores and shows a model: `structuredContent` when the
    /// server sent an object, else the first text content parsed as JSON, else the text itself.
    static func json(from result: CallTool.Result) -> JSONValue {
        var value: JSONValue?
        if let structured = result.structuredContent, case .object = structured {
            value = JSONValue(mcpValue: structured)
        }
        var text: String?
        for content in result.content {
            if case .text(let body, _, _) = content {
                text = body
                break
            }
        }
        if value == nil, let text { value = JSONValue(jsonText: text) ?? ["text": .string(text)] }
        if result.isError == true, value?["error"] == nil {
            return Self.error(code: "tool_error", message: text ?? "the tool failed")
        }
        return value ?? .null
    }

    /// The tool result the agent sees for a protocol error of the server.
    static func result(for failure: MCPError, tool name: String) -> JSONValue {
        switch failure {
        case .invalidParams(let detail) where detail?.hasPrefix("Unknown tool") == true:
            self.error(code: "unknown_tool", message: "no tool named \(name)")
        case .invalidParams(let detail):
            self.error(code: "invalid_arguments", message: detail ?? "invalid arguments")
        default:
            self.error(code: "unavailable", message: "the tool server failed: \(failure.code)")
        }
    }

    static func error(code: String, message: String) -> JSONValue {
        ["error": ["code": .string(code), "message": .string(message)]]
    }

    // MARK: - Tool listing

    /// The server's tools as Parley tool definitions (for `ModelAgent(tools:)`).
    public func toolDefinitions() async throws -> [ToolDefinition] {
        var tools: [Tool] = []
        var cursor: String?
        var pages = 0
        repeat {
            let page = try await client.listTools(cursor: cursor)
            tools += page.tools
            cursor = page.nextCursor
            pages += 1
        } while cursor != nil && pages < 20
        return tools.map {
            ToolDefinition(name: $0.name, description: $0.description ?? "", inputSchema: JSONValue(mcpValue: $0.inputSchema))
        }
    }

    /// The server's tools as the OpenAI-style specs a model request carries.
    public func toolSpecs() async throws -> [ToolSpec] {
        try await toolDefinitions().map { ToolSpec(name: $0.name, description: $0.description, parameters: $0.inputSchema) }
    }
}

public struct MCPToolClientError: Error, Sendable {
    public let message: String
}

/// How a chat turn gets its tools through MCP, in process: each call goes to the MCP tool
/// server's `tools/call` handling (the same checks, the same result with `structuredContent`
/// and text, the same errors) as MCP values, without the JSON-RPC framing in between. A
/// transport would add nothing here but cost: the SDK decodes every string of every message
/// with a regular expression it builds anew, which made up a third of a tool-calling turn's CPU.
public final class MCPInProcessToolProvider: ToolProvider {
    public let toolServer: MCPToolServer

    public init(toolServer: MCPToolServer = MCPToolServer()) {
        self.toolServer = toolServer
    }

    public func withTools<T: Sendable>(
        for tasks: TaskService, credentials: ToolCredentials?, _ body: (any ToolExecutor) async throws -> T
    ) async throws -> T {
        try await body(TurnTools(server: toolServer, tools: TaskToolExecutor(tasks: tasks)))
    }

    /// One turn's tools, called through the MCP server's handling.
    struct TurnTools: ToolExecutor {
        let server: MCPToolServer
        let tools: any ToolExecutor

        func call(_ name: String, arguments: JSONValue) async -> ToolCallRecord {
            let result: JSONValue
            do {
                let answer = try await server.call(.init(name: name, arguments: arguments.mcpArguments), executor: tools)
                result = MCPToolClient.json(from: answer)
            } catch let error as MCPError {
                result = MCPToolClient.result(for: error, tool: name)
            } catch {
                result = MCPToolClient.error(code: "unavailable", message: "the tool server failed")
            }
            return ToolCallRecord(name: name, arguments: arguments, result: result)
        }
    }
}

/// The agent's tools in a separate `parley mcp` service (`mcp.url`), over Streamable HTTP with the
/// caller's own token and tenant: that service verifies them like the API does. The session is
/// opened at a turn's first tool call (a turn without tools costs nothing) and closed after it.
public struct MCPRemoteToolProvider: ToolProvider {
    /// Connections to the tool service, for the life of the process. Refused connections are not
    /// retried. (Even so, inside a request handler a refused connection has been seen to fail only
    /// at the request's deadline, so `timeout` bounds what a down service costs a turn.)
    static let httpClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(2)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public let endpoint: String
    public let timeout: Duration
    let logger: Logger

    public init(endpoint: String, timeout: Duration = .seconds(30), logger: Logger) {
        self.endpoint = endpoint
        self.timeout = timeout
        self.logger = logger
    }

    public func withTools<T: Sendable>(
        for tasks: TaskService, credentials: ToolCredentials?, _ body: (any ToolExecutor) async throws -> T
    ) async throws -> T {
        guard let credentials else { throw ParleyError.unavailable("the tool service needs the caller's credentials") }
        let tools = RemoteTurnTools(provider: self, credentials: credentials)
        do {
            let value = try await body(tools)
            await tools.close()
            return value
        } catch {
            await tools.close()
            throw error
        }
    }

    /// One turn's session with the remote service, opened on first use (a turn's tool calls
    /// come one after another).
    actor RemoteTurnTools: ToolExecutor {
        let provider: MCPRemoteToolProvider
        let credentials: ToolCredentials
        private var client: MCPToolClient?

        init(provider: MCPRemoteToolProvider, credentials: ToolCredentials) {
            self.provider = provider
            self.credentials = credentials
        }

        func call(_ name: String, arguments: JSONValue) async -> ToolCallRecord {
            if client == nil {
                do {
                    client = try await MCPToolClient.http(
                        endpoint: provider.endpoint, bearerToken: credentials.bearerToken, tenant: credentials.tenant,
                        timeout: provider.timeout, logger: nil)
                } catch {
                    provider.logger.warning("the MCP tool service is unreachable", metadata: ["error": "\(error)"])
                    return ToolCallRecord(
                        name: name, arguments: arguments,
                        result: MCPToolClient.error(code: "unavailable", message: "the tool service is unavailable, try again"))
                }
            }
            return await client!.call(name, arguments: arguments)
        }

        func close() async {
            await client?.close()
            client = nil
        }
    }
}
