import Foundation
import Logging
import ParleyAgent
import ParleyCore
import ParleyStore
import Testing

@testable import ParleyMCP

@Suite("MCP server")
struct MCPServerTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-mcp-\(UUID().uuidString)")

    func tools(for user: String) async throws -> (TaskToolExecutor, SQLiteStoreProvider) {
        let provider = try SQLiteStoreProvider(dataDirectory: directory, logger: Logger(label: "test"))
        let store = try await provider.store(for: TenantID("acme")!, provisioning: .createIfMissing)
        return (TaskToolExecutor(tasks: TaskService(repository: store.tasks, user: UserID(user)!)), provider)
    }

    @Test func theAgentsInProcessClientReachesTheFiveToolsThroughMCP() async throws {
        let (executor, provider) = try await tools(for: "alice")
        let client = try await MCPToolClient.inProcess(executor: executor)
        let listed = try await client.toolDefinitions()
        #expect(listed.map(\.name) == TaskTools.all.map(\.name))
        #expect(listed.first { $0.name == "add_task" }?.inputSchema == TaskTools.addTask.inputSchema)

        let added = await client.call("add_task", arguments: ["title": "Buy milk"])
        #expect(added.result["task"]?["title"] == "Buy milk")
        #expect(added.result["task"]?["id"] == 1)
        // Whole numbers go over MCP as integers: the schema's integer task_id is accepted.
        let completed = await client.call("complete_task", arguments: ["task_id": 1])
        #expect(completed.result["task"]?["status"] == "completed")
        let missing = await client.call("delete_task", arguments: ["task_id": 42])
        #expect(missing.result["error"]?["code"] == "not_found")
        let invalid = await client.call("add_task", arguments: ["title": .number(3)])
        #expect(invalid.result["error"]?["code"] == "invalid_arguments")
        let unknown = await client.call("drop_database", arguments: [:])
        #expect(unknown.result["error"]?["code"] == "unknown_tool")
        await client.close()
        try await provider.close()
    }

    func initialize(id: String = "1") -> MCPWireRequest {
        let body = #"{"jsonrpc": "2.0", "id": \#(id), "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}"#
        return MCPWireRequest(
            method: "POST", headers: ["Accept": "application/json, text/event-stream", "Content-Type": "application/json"],
            body: Data(body.utf8), path: "/mcp")
    }

    func listTools(session: String) -> MCPWireRequest {
        MCPWireRequest(
            method: "POST",
            headers: [
                "Accept": "application/json, text/event-stream", "Content-Type": "application/json", "Mcp-Session-Id": session,
                "MCP-Protocol-Version": "2025-06-18",
            ],
            body: Data(#"{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}"#.utf8), path: "/mcp")
    }

    @Test func sessionsStayWithTheirCreatorAndExpireWhenIdle() async throws {
        let (executor, provider) = try await tools(for: "alice")
        let registry = MCPSessionRegistry(
            toolServer: MCPToolServer(), origin: .disabled, limits: .init(idleTimeout: .milliseconds(300)))
        let alice = MCPSessionOwner(issuer: "test", tenant: TenantID("acme")!, user: UserID("alice")!)
        let mallory = MCPSessionOwner(issuer: "test", tenant: TenantID("acme")!, user: UserID("mallory")!)

        let opened = await registry.handle(initialize(), owner: alice, executor: executor)
        #expect(opened.status == 200)
        let session = try #require(opened.headers.first { $0.key.lowercased() == "mcp-session-id" }?.value)
        #expect(session.count >= 32)
        #expect(await registry.count == 1)

        #expect(await registry.handle(listTools(session: session), owner: alice, executor: executor).status == 200)
        // Another principal with the same id: as if the session did not exist.
        #expect(await registry.handle(listTools(session: session), owner: mallory, executor: executor).status == 404)

        try await Task.sleep(for: .milliseconds(500))
        await registry.sweep()
        #expect(await registry.count == 0)
        #expect(await registry.handle(listTools(session: session), owner: alice, executor: executor).status == 404)
        await registry.closeAll()
        try await provider.close()
    }
}
