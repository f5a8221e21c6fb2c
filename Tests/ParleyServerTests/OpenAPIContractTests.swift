import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import ParleyServer

/// The OpenAPI document names exactly the routes the router serves, and Parley serves it.
@Suite("OpenAPI contract")
struct OpenAPIContractTests {
    static let documentDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/ParleyServer/OpenAPI")

    /// `GET /api/v1/tasks/{id}` and so on: every operation of the document.
    static func documentedOperations() throws -> Set<String> {
        let data = try Data(contentsOf: documentDirectory.appendingPathComponent("openapi.json"))
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        var operations: Set<String> = []
        for (path, item) in paths {
            for key in (item as? [String: Any] ?? [:]).keys where methods.contains(key) {
                operations.insert("\(key.uppercased()) \(path)")
            }
        }
        return operations
    }

    @Test func theDocumentNamesEveryRouteAndOnlyThose() async throws {
        let parley = TestParley()
        var logger = Logger(label: "parley-test")
        logger.logLevel = .warning
        let services = try await ParleyServices.make(configuration: parley.configuration, logger: logger)
        let mcp = MCPService(configuration: parley.configuration, auditor: Auditor(queue: services.auditQueue), host: "127.0.0.1", logger: logger)
        let router = buildRouter(services: services, mcp: mcp, surface: .api, logger: logger)
        let served = Set(router.routes.map { route in
            let path = "\(route.path)"
            return "\(route.method.rawValue) \(path.hasPrefix("/") ? path : "/" + path)"
        })
        try await services.storeProvider.close()
        try await services.control.close()
        let documented = try Self.documentedOperations()
        #expect(served.subtracting(documented).sorted() == [], "served but not in the OpenAPI document")
        #expect(documented.subtracting(served).sorted() == [], "in the OpenAPI document but not served")
        #expect(served.count > 30)
    }

    @Test func parleyServesTheDocumentWithoutAToken() async throws {
        let yaml = try Data(contentsOf: Self.documentDirectory.appendingPathComponent("openapi.yaml"))
        let json = try Data(contentsOf: Self.documentDirectory.appendingPathComponent("openapi.json"))
        try await TestParley().run { client in
            let servedYAML = try await client.execute(uri: "/openapi.yaml", method: .get, headers: [:], body: nil)
            #expect(servedYAML.status == .ok)
            #expect(servedYAML.headers[.contentType]?.hasPrefix("application/yaml") == true)
            #expect(Data(buffer: servedYAML.body) == yaml)
            let servedJSON = try await client.execute(uri: "/openapi.json", method: .get, headers: [:], body: nil)
            #expect(servedJSON.status == .ok)
            #expect(servedJSON.headers[.contentType] == "application/json")
            #expect(Data(buffer: servedJSON.body) == json)
            let object = try JSONSerialization.jsonObject(with: Data(buffer: servedJSON.body)) as? [String: Any]
            #expect((object?["openapi"] as? String)?.hasPrefix("3.1") == true)
        }
    }
}
