import Foundation
import Glibc
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
    var configuration = ParleyConfiguration()
    /// Replaces the in-process rate limiter (to test a limiter that fails).
    var rateLimiter: (any RateLimiter)?

    var devAuth: Bool {
        get { configuration.devAuth ?? true }
        set { configuration.devAuth = newValue }
    }

    /// A Parley on its own data directory, or on `other`'s (a second process on the same files).
    init(sharingDataWith other: TestParley? = nil) {
        directory = other?.directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("parley-e2e-\(UUID().uuidString)")
        configuration.port = 0
        configuration.dataDirectory = directory.path
        configuration.devAuth = true
        // Tests send many requests from one address quickly; the limits tests set their own.
        configuration.rateLimits.ip = nil
        configuration.rateLimits.user = nil
        configuration.rateLimits.tenant = nil
        configuration.rateLimits.authFailures = nil
    }

    func token(_ user: String, tenants: [String] = ["acme"], admin: Bool = false) async throws -> String {
        try await DevelopmentIssuer.loadOrCreate(dataDirectory: directory)
            .token(user: UserID(user)!, tenants: tenants.map { TenantID($0)! }, admin: admin)
    }

    /// Starts the server, runs `body` against it, and stops it (a real restart between calls).
    func run<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        try await run { client, _ in try await body(client) }
    }

    /// The same, with the running services at hand (e.g. the local model servers).
    func run<Value: Sendable>(
        surface: ParleySurface = .api, _ body: @Sendable (any TestClientProtocol, ParleyServices) async throws -> Value
    ) async throws -> Value {
        var logger = Logger(label: "parley-test")
        logger.logLevel = .warning
        var configuration = configuration
        configuration.mcp.port = 0
        let services = try await ParleyServices.make(configuration: configuration, logger: logger, rateLimiter: rateLimiter)
        let app = try await buildApplication(services: services, logger: logger, surface: surface)
        return try await app.test(.live) { client in try await body(client, services) }
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

extension TestClientProtocol {
    /// Polls the audit log (as `token`, an admin) until `matching` holds for its events, which the
    /// audit worker writes a moment after the request.
    func auditEvents(
        token: String, query: String = "", tenant: String? = nil, until matching: ([JSONValue]) -> Bool
    ) async throws -> [JSONValue] {
        var events: [JSONValue] = []
        for _ in 0..<100 {
            let response = try await send(.get, "/api/v1/admin/audit?limit=1000&\(query)", token: token, tenant: tenant)
            #expect(response.status == .ok, "\(response.text)")
            events = try response.json["events"]?.arrayValue ?? []
            if matching(events) { return events }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("audit events never matched; last seen: \(events.count) events")
        return events
    }
}

/// A plain TCP connection to Parley, for what an HTTP client library will not do: send half a
/// request, hold a stream open unread, or look at how the server ends a connection.
///
/// Its socket calls block, so they run on a thread of their own: on the two threads of Swift's
/// cooperative pool here, two tests waiting in `recv` would starve the very server they wait for.
final class RawConnection: @unchecked Sendable {  // the socket is set once; each call is its own
    private let socket: Int32

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.EBADF) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(socket)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    deinit { close(socket) }

    /// Sends all of `text`; `false` once the server has closed the connection.
    @discardableResult
    func send(_ text: String) async -> Bool {
        await Self.offThePool { self.sendBlocking(text) }
    }

    /// What arrives until `marker` has been seen, the connection closes or `within` seconds pass.
    func read(until marker: String, within seconds: Int) async -> String {
        await Self.offThePool { self.readBlocking(until: marker, within: seconds) }
    }

    /// Whether the server closes the connection within `seconds` (whatever it sends first).
    func awaitClose(within seconds: Int) async -> Bool {
        await Self.offThePool { self.awaitCloseBlocking(within: seconds) }
    }

    private static func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }

    private func sendBlocking(_ text: String) -> Bool {
        var bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeMutableBytes { Glibc.send(socket, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return false }  // the server closed it
            sent += count
        }
        return true
    }

    private func readBlocking(until marker: String, within seconds: Int) -> String {
        setTimeout(seconds)
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    private func awaitCloseBlocking(within seconds: Int) -> Bool {
        setTimeout(seconds)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    private func setTimeout(_ seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
}
