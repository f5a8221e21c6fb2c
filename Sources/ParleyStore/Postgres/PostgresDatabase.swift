import Crypto
import Foundation
import Logging
import NIOCore
import ParleyCore
import PostgresNIO
import Synchronization
import Tracing

/// Where and how to reach PostgreSQL: parsed from `postgres://user:password@host:port/database?sslmode=…`.
public struct PostgresSettings: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// Connections per process (per replica).
    public var poolSize: Int
    /// How long a store call may wait for a connection and its answer before it fails with 503.
    public var timeout: Duration

    public enum TLSMode: String, Sendable, Hashable {
        case disable, prefer, require
    }

    public init(
        host: String, port: Int = 5432, username: String, password: String?, database: String, tls: TLSMode = .prefer,
        poolSize: Int = 10, timeout: Duration = .seconds(5)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.poolSize = poolSize
        self.timeout = timeout
    }

    /// `nil` when `url` is not a `postgres://` or `postgresql://` URL.
    public init?(url: String, poolSize: Int = 10, timeout: Duration = .seconds(5)) {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme),
            let host = components.host, !host.isEmpty
        else { return nil }
        let sslmode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value
        let tls: TLSMode
        switch sslmode {
        case nil: tls = ["127.0.0.1", "localhost", "::1"].contains(host) ? .disable : .prefer
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer
        case "require", "verify-ca", "verify-full": tls = .require
        default: return nil
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        self.init(
            host: host, port: components.port ?? 5432, username: components.user ?? "postgres",
            password: components.password?.removingPercentEncoding ?? components.password,
            database: database.isEmpty ? "postgres" : database, tls: tls, poolSize: poolSize, timeout: timeout)
    }

    /// The URL with its password hidden, for logs and readiness.
    public var redacted: String { "postgres://\(username)@\(host):\(port)/\(database)" }

    func clientConfiguration() throws -> PostgresClient.Configuration {
        let tlsConfiguration: PostgresClient.Configuration.TLS
        switch tls {
        case .disable: tlsConfiguration = .disable
        case .prefer: tlsConfiguration = .prefer(.makeClientConfiguration())
        case .require: tlsConfiguration = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tlsConfiguration)
        configuration.options.maximumConnections = max(1, poolSize)
        // Kept open so that the pool reconnects after a restart before traffic needs it.
        configuration.options.minimumConnections = min(2, max(1, poolSize))
        configuration.options.connectTimeout = .seconds(3)
        configuration.options.additionalStartupParameters = [
            // No schema by default: a tenant query outside its tenant's transaction fails loudly
            // instead of landing in whatever schema `"$user"` names.
            ("search_path", "pg_catalog"),
            ("statement_timeout", "15s"),
            ("idle_in_transaction_session_timeout", "30s"),
            ("application_name", "parley"),
        ]
        return configuration
    }
}

/// One PostgreSQL connection pool, shared by every tenant store and the control store of a process.
///
/// The pool runs from `open` until `close`. Every operation is one transaction with the
/// `search_path` of the schema it works on, is bounded by `settings.timeout`, and reports a
/// database that is not there (down, restarting, refusing connections) as
/// `ParleyError.unavailable`, which the API answers with 503.
public final class PostgresDatabase: Sendable {
    public let settings: PostgresSettings
    let client: PostgresClient
    let logger: Logger
    let statistics: DatabaseStatistics
    private let running: Task<Void, Never>

    public init(settings: PostgresSettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        self.statistics = DatabaseStatistics(backend: "postgresql", maxConnections: max(1, settings.poolSize))
        let client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: logger)
        self.client = client
        // Leases wait while the pool is not running; it runs for as long as this database is open.
        self.running = Task { await client.run() }
    }

    /// Ends the pool: connections close once their current query has finished.
    public func close() async {
        running.cancel()
        await running.value
    }

    /// Runs `body` in one transaction whose `search_path` is `schema` (already quoted), and
    /// nothing else: every unqualified name in `body` resolves in that schema.
    func transaction<Result: Sendable>(
        in schema: QuotedSchema, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        let logger = self.logger
        return try await StoreTracing.span(system: "postgresql", namespace: schema.name, sql: nil) {
            try await bounded {
                try await self.client.withTransaction(logger: logger) { connection in
                    try await connection.query("SELECT set_config('search_path', \(schema.quoted), true)", logger: logger)
                    return try await body(connection, logger)
                }
            }
        }
    }

    /// Runs `body` in one transaction, on the pool's own `search_path` (no tables): its SQL names
    /// the schema of every table.
    func transaction<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        let logger = self.logger
        return try await bounded {
            try await self.client.withTransaction(logger: logger) { connection in try await body(connection, logger) }
        }
    }

    /// Runs one statement on its own (PostgreSQL commits it by itself): one round trip. Its SQL
    /// names the schema of every table (see `QuotedSchema.qualifier`).
    func run(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let logger = self.logger
        return try await StoreTracing.span(system: "postgresql", namespace: Self.schema(of: query.sql), sql: query.sql) {
            try await bounded {
                try await self.client.query(query, logger: logger).collect()
            }
        }
    }

    /// The schema a statement's first table is in (`tenant_acme` of `"tenant_acme".messages`).
    static func schema(of sql: String) -> String {
        guard let table = StoreTracing.summary(sql).1, let range = sql.range(of: "\".\(table)") else { return "parley" }
        let before = sql[..<range.lowerBound]
        guard let open = before.lastIndex(of: "\"") else { return "parley" }
        return String(before[before.index(after: open)...])
    }

    /// Answers within the timeout, or fails with 503: while PostgreSQL is down, a lease would
    /// otherwise wait until the pool gives up (a minute), and a query on a connection that died
    /// without a word may never end. The caller gets its 503 at the deadline, without waiting
    /// for such a query (it is cancelled, and finishes in the background).
    func bounded<Result: Sendable>(_ operation: @escaping @Sendable () async throws -> Result) async throws -> Result {
        statistics.started()
        defer { statistics.finished() }
        let work = Task { try await operation() }
        let outcome = await withTaskCancellationHandler {
            await Deadline.race(work, timeout: settings.timeout)
        } onCancel: {
            work.cancel()
        }
        switch outcome {
        case .success(let result):
            return result
        case .failure(let error as ParleyError):
            throw error
        case .failure(let error):
            if error is Deadline.Expired || Self.isUnavailable(error) {
                statistics.failedUnavailable()
                logger.warning("database unavailable", metadata: ["error": "\(String(reflecting: error))"])
                throw ParleyError.unavailable("the database is unavailable; try again")
            }
            throw Self.unwrapped(error)
        }
    }

    /// Creates a database on this server (tests and first-time setup); `name` must be a plain
    /// lower-case identifier, as it cannot be bound.
    public func createDatabase(named name: String) async throws {
        guard !name.isEmpty, name.utf8.count <= 63,
            name.utf8.allSatisfy({ (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5f })
        else { throw ParleyError.invalid(field: "name", reason: "must be a lower-case identifier") }
        try await client.query("CREATE DATABASE \(unescaped: name)", logger: logger)
    }

    /// Throws when the database does not answer a trivial query within a second (readiness).
    func checkHealth() async throws {
        let client = self.client
        let logger = self.logger
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await client.query("SELECT 1", logger: logger)
                return true
            }
            group.addTask {
                try await Task.sleep(for: .seconds(1))
                return false
            }
            defer { group.cancelAll() }
            guard try await group.next() == true else { throw ParleyError.unavailable("the database did not answer within 1 s") }
        }
    }

    // MARK: Errors

    /// The error a transaction's body (or its COMMIT) raised, without the transaction's wrapper.
    static func unwrapped(_ error: any Error) -> any Error {
        if let transaction = error as? PostgresTransactionError {
            return (transaction.closureError ?? transaction.commitError ?? transaction.beginError).map(unwrapped) ?? error
        }
        return error
    }

    /// The SQLSTATE of a server error, if `error` is one.
    static func sqlState(_ error: any Error) -> String? {
        (unwrapped(error) as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Whether `error` means "the database is not there right now" rather than a bad query.
    static func isUnavailable(_ error: any Error) -> Bool {
        let error = unwrapped(error)
        if let error = error as? PSQLError {
            if error.code == .server, let state = error.serverInfo?[.sqlState] {
                // 08: connection exceptions, 57: operator intervention (shutdown, restart),
                // 53300: too many connections.
                return state.hasPrefix("08") || state.hasPrefix("57") || state == "53300"
            }
            return error.code != .server && error.code != .tooManyParameters
        }
        return error is CancellationError || String(reflecting: type(of: error)).contains("ConnectionPoolError")
    }
}

/// The first of a task's result and a deadline.
enum Deadline {
    struct Expired: Error {}

    static func race<Success: Sendable>(_ work: Task<Success, any Error>, timeout: Duration) async -> Result<Success, any Error> {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<Success, any Error>, Never>) in
            let pending = Pending(continuation)
            let timer = Task {
                try? await Task.sleep(for: timeout)
                guard !Task.isCancelled, let continuation = pending.take() else { return }
                work.cancel()
                continuation.resume(returning: .failure(Expired()))
            }
            Task {
                let result = await work.result
                timer.cancel()
                pending.take()?.resume(returning: result)
            }
        }
    }

    /// A continuation that only the first of two racers takes.
    private final class Pending<Value: Sendable>: Sendable {
        private let continuation: Mutex<CheckedContinuation<Value, Never>?>

        init(_ continuation: CheckedContinuation<Value, Never>) {
            self.continuation = Mutex(continuation)
        }

        func take() -> CheckedContinuation<Value, Never>? {
            continuation.withLock { $0.take() }
        }
    }
}

extension Optional {
    fileprivate mutating func take() -> Wrapped? {
        defer { self = nil }
        return self
    }
}

/// A schema name that is safe to put into SQL: derived from validated ids only, and quoted.
struct QuotedSchema: Sendable, Hashable {
    let name: String

    /// The shared schema: tenants, flags, migrations, the system audit log.
    static let control = QuotedSchema(validated: "parley")

    private init(validated name: String) {
        self.name = name
    }

    /// The schema of a tenant: `tenant_<id>`. PostgreSQL cuts identifiers at 63 bytes, so a long
    /// id keeps its first 41 characters and gains a hash of the whole: two ids never share a schema.
    init(tenant: TenantID) {
        let id = tenant.rawValue
        if id.utf8.count <= 56 {
            self.name = "tenant_" + id
        } else {
            let digest = SHA256.hash(data: Data(id.utf8)).map { String(format: "%02x", $0) }.joined()
            self.name = "tenant_" + id.prefix(41) + "_" + digest.prefix(14)
        }
    }

    /// A name read back from `parley.tenants`, accepted only if it has the shape Parley gives them.
    init?(stored name: String) {
        let bytes = Array(name.utf8)
        guard name.hasPrefix("tenant_"), bytes.count <= 63, bytes.count > 7,
            bytes.allSatisfy({ (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5f })
        else { return nil }
        self.name = name
    }

    /// The identifier in double quotes; no quote can occur inside.
    var quoted: String { "\"\(name)\"" }

    /// What goes before a table name to name it in this schema: `"tenant_acme".`
    var qualifier: String { quoted + "." }
}
