import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ParleyAuth
import ParleyCore
import ParleyServer
import Testing

/// A Parley on a fresh data directory, tested over real HTTP on a loopback port.
struct TestParley {
    let directory: URL
    var devAuth = true

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-e2e-\(UUID().uuidString)")
    }

    var configuration: ParleyConfiguration {
        var configuration = ParleyConfiguration()
        configuration.port = 0
        configuration.dataDirectory = directory.path
        configuration.devAuth = devAuth
        return configuration
    }

    func token(_ user: String, tenants: [String] = ["acme"], admin: Bool = false) async throws -> String {
        try await DevelopmentIssuer.loadOrCreate(dataDirectory: directory)
            .token(user: UserID(user)!, tenants: tenants.map { TenantID($0)! }, admin: admin)
    }

    /// Starts the server, runs `body` against it, and stops it (a real restart between calls).
    func run<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        var logger = Logger(label: "parley-test")
        logger.logLevel = .warning
        let app = try await buildApplication(configuration: configuration, logger: logger)
        return try await app.test(.live, body)
    }
}

extension TestClientProtocol {
    /// Sends a JSON request as `token` (nil: no Authorization header).
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ uri: String, token: String?, json: String? = nil, tenant: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let tenant { headers[HTTPField.Name("X-Tenant-ID")!] = tenant }
        if json != nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    var json: JSONValue {
        get throws { try JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView)) }
    }

    var text: String { String(buffer: body) }

    /// Asserts a problem+json error with the given status, and returns its body.
    @discardableResult
    func expectProblem(_ status: HTTPResponse.Status, field: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        #expect(self.status == status, "\(text)", sourceLocation: sourceLocation)
        #expect(headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let problem = try json
        #expect(problem["status"]?.intValue == status.code, sourceLocation: sourceLocation)
        #expect(problem["request_id"]?.stringValue == headers[HTTPField.Name("X-Request-ID")!], sourceLocation: sourceLocation)
        #expect((problem["detail"]?.stringValue ?? "").isEmpty == false, sourceLocation: sourceLocation)
        if let field { #expect(problem["field"]?.stringValue == field, "\(text)", sourceLocation: sourceLocation) }
        return problem
    }
}

func chatBody(_ message: String, conversation: Int? = nil) -> String {
    var body: [String: JSONValue] = ["message": .string(message)]
    if let conversation { body["conversation_id"] = JSONValue(conversation) }
    return String(decoding: try! JSONEncoder().encode(body), as: UTF8.self)
}
