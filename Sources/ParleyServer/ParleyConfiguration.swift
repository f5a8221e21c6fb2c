import Configuration
import Foundation
import Logging
import ParleyAgent
import ParleyAuth
import ParleyCore
import ParleyModels
import ParleyRedis
import ParleyStore
import SystemPackage

/// Every setting Parley reads, with its default. Keys are listed in docs/configuration.md (a
/// check in scripts/test keeps the two equal); each can come from the command line, the
/// environment (`PARLEY_` + the key in upper snake case, e.g. `PARLEY_HTTP_PORT`), a `.env`
/// file, or a JSON config file, in that order of precedence.
public struct ParleyConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var dataDirectory: String = "./data"
    /// `nil` means automatic: on exactly when listening on loopback.
    public var devAuth: Bool? = nil
    /// Create a tenant's storage on its first request; `nil` means on exactly when dev auth is on
    /// (in production, tenants are provisioned through the admin API).
    public var autoProvision: Bool? = nil
    /// Identity providers whose tokens are accepted.
    public var issuers: [IssuerConfiguration] = []
    public var rateLimits = RateLimitSettings()
    /// Browser origins allowed to call the API (`*` allows any); empty: no CORS headers.
    public var corsAllowedOrigins: [String] = []
    /// Proxies in front of Parley that append to `X-Forwarded-For` (0: use the peer address).
    public var forwardedHops: Int = 0
    /// Send `Strict-Transport-Security` on every response (Parley is only reached over TLS).
    public var hsts: Bool = false
    /// Language-model providers by name; none: the basic agent answers everything.
    public var providers: [ProviderConfiguration] = []
    /// The providers a chat tries in order (default: all, as listed).
    public var modelRoute: [String] = []
    /// A provider failing this many times within the window is skipped for the cool-down.
    public var providerBreaker = CircuitBreaker.Policy()
    /// Model calls per chat turn, tool rounds included.
    public var agentMaxTurns = ModelAgent.defaultMaxTurns
    public var logLevel: Logger.Level = .info
    /// Tasks run on the event loops that own the sockets, not on a separate pool (`EventLoopExecutor`).
    public var eventLoopExecutor = true
    /// Messages of the conversation the agent sees.
    public var contextMessages: Int = 20
    /// Server-Sent Event streams open at once in this process, per user and per tenant.
    public var maxStreamsPerUser = 5
    public var maxStreamsPerTenant = 500
    /// Parley's public base URL (`https://parley.example.com`), for documents that name it (the
    /// MCP protected-resource metadata); `nil`: taken from each request.
    public var publicURL: String?
    public var mcp = MCPSettings()
    /// OpenTelemetry traces; off unless an OTLP endpoint is configured.
    public var telemetry = TelemetrySettings()
    /// How long messages are kept, and how often the purge runs.
    public var retention = RetentionSettings()
    public var budget = BudgetSettings()
    /// PostgreSQL instead of the SQLite files in the data directory; `nil`: SQLite.
    public var postgres: PostgresSettings?
    /// Whether serving processes migrate the schemas they open (`off`: only `parley migrate` does).
    public var migration: MigrationPolicy = .auto
    /// Seconds a connection may send nothing while a request is being read, or while it is idle
    /// between requests, before it is closed. Above a load balancer's own keep-alive timeout
    /// (nginx: 60 s), so that it is the balancer that closes idle connections.
    public var idleTimeoutSeconds = 75
    /// Seconds from a request's first byte until all of it (head and body) has arrived, however
    /// its bytes are paced; then the connection is closed. Answering time is not counted.
    public var requestReadTimeoutSeconds = 30
    /// Request headers, all together, at most (a bearer token is at most 16 KiB).
    public static let maxHeaderBytes = 32 * 1024
    /// How long a process keeps serving after SIGTERM while readiness says 503 (`nil`: 0 on
    /// loopback, where no load balancer waits, else 5 s).
    public var drainSeconds: Int?
    /// How long shutdown waits to store the audit events still queued before it writes them to the
    /// dead-letter file (a database that is down must not hold shutdown).
    public var auditShutdownTimeout: Duration = .seconds(5)
    /// Redis for rate limits, the audit queue and the context cache; `nil`: all in process.
    public var redis: RedisSettings?
    /// A directory with the web chat's files, instead of those built in.
    public var webDirectory: String?
    /// The web chat's public client id at the first identity provider (`auth.oidc.*`): with it,
    /// the page signs people in with the Authorization Code flow and PKCE.
    public var webClientID: String?
    public var webScope = "openid profile"

    public init() {}

    /// Dev auth is on when configured so, or by default when nobody off this machine can reach us.
    public var devAuthEnabled: Bool { devAuth ?? Self.isLoopback(host) }

    public var autoProvisionTenants: Bool { autoProvision ?? devAuthEnabled }

    var streamLimits: StreamSlots.Limits { .init(perUser: maxStreamsPerUser, perTenant: maxStreamsPerTenant) }

    /// The drain period of a process listening on `host`.
    public func drain(host: String) -> Duration { .seconds(drainSeconds ?? (Self.isLoopback(host) ? 0 : 5)) }

    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public var dataDirectoryURL: URL {
        URL(fileURLWithPath: dataDirectory, isDirectory: true).standardizedFileURL
    }

    public init(reader: ConfigReader) throws {
        let defaults = ParleyConfiguration()
        host = reader.string(forKey: "http.host", default: defaults.host)
        port = reader.int(forKey: "http.port", default: defaults.port)
        dataDirectory = reader.string(forKey: "data.dir", default: defaults.dataDirectory)
        devAuth = reader.bool(forKey: "auth.dev")
        autoProvision = reader.bool(forKey: "tenants.autoProvision")
        issuers = try Self.issuers(reader)
        rateLimits = try RateLimitSettings(reader: reader)
        corsAllowedOrigins = reader.stringArray(forKey: "cors.allowedOrigins", default: [])
        for origin in corsAllowedOrigins where origin != "*" {
            guard let url = URL(string: origin), url.scheme != nil, url.host != nil, url.path.isEmpty || url.path == "/" else {
                throw ConfigurationError(key: "cors.allowedOrigins", reason: "\(origin) is not an origin like https://app.example.com")
            }
        }
        forwardedHops = reader.int(forKey: "http.forwardedHops", default: 0)
        guard (0...10).contains(forwardedHops) else { throw ConfigurationError(key: "http.forwardedHops", reason: "must be 0–10") }
        hsts = reader.bool(forKey: "http.hsts", default: false)
        publicURL = reader.string(forKey: "http.publicUrl")
        if let publicURL, URL(string: publicURL)?.host == nil {
            throw ConfigurationError(key: "http.publicUrl", reason: "must be an absolute URL like https://parley.example.com")
        }
        mcp = try MCPSettings(reader: reader, defaultHost: host)
        telemetry = try TelemetrySettings(reader: reader)
        retention = try RetentionSettings(reader: reader)
        budget = try BudgetSettings(reader: reader)
        providers = try Self.providers(reader)
        modelRoute = reader.stringArray(forKey: "model.route", default: providers.map(\.name))
        for name in modelRoute where !providers.contains(where: { $0.name == name }) {
            throw ConfigurationError(key: "model.route", reason: "names \(name), which is not in model.providers")
        }
        providerBreaker.threshold = reader.int(forKey: "model.failureThreshold", default: providerBreaker.threshold)
        providerBreaker.window = .seconds(reader.int(forKey: "model.failureWindowSeconds", default: 30))
        providerBreaker.coolDown = .seconds(reader.int(forKey: "model.coolDownSeconds", default: 30))
        guard providerBreaker.threshold >= 1 else { throw ConfigurationError(key: "model.failureThreshold", reason: "must be at least 1") }
        agentMaxTurns = reader.int(forKey: "agent.maxTurns", default: agentMaxTurns)
        guard (1...20).contains(agentMaxTurns) else { throw ConfigurationError(key: "agent.maxTurns", reason: "must be 1–20") }
        contextMessages = reader.int(forKey: "chat.contextMessages", default: defaults.contextMessages)
        maxStreamsPerUser = reader.int(forKey: "chat.maxStreamsPerUser", default: defaults.maxStreamsPerUser)
        maxStreamsPerTenant = reader.int(forKey: "chat.maxStreamsPerTenant", default: defaults.maxStreamsPerTenant)
        guard (1...1000).contains(maxStreamsPerUser) else { throw ConfigurationError(key: "chat.maxStreamsPerUser", reason: "must be 1–1000") }
        guard (1...100_000).contains(maxStreamsPerTenant) else {
            throw ConfigurationError(key: "chat.maxStreamsPerTenant", reason: "must be 1–100000")
        }
        let level = reader.string(forKey: "log.level", default: defaults.logLevel.rawValue)
        guard let parsedLevel = Logger.Level(rawValue: level.lowercased()) else {
            throw ConfigurationError(key: "log.level", reason: "must be one of trace, debug, info, notice, warning, error, critical")
        }
        logLevel = parsedLevel
        eventLoopExecutor = reader.bool(forKey: "runtime.eventLoopExecutor", default: defaults.eventLoopExecutor)
        guard (0...65535).contains(port) else { throw ConfigurationError(key: "http.port", reason: "must be 0–65535") }
        guard (0...500).contains(contextMessages) else {
            throw ConfigurationError(key: "chat.contextMessages", reason: "must be 0–500")
        }
        postgres = try Self.postgres(reader)
        let migrate = reader.string(forKey: "database.migrate", default: MigrationPolicy.auto.rawValue)
        guard let policy = MigrationPolicy(rawValue: migrate) else {
            throw ConfigurationError(key: "database.migrate", reason: "must be auto or off, not \(migrate)")
        }
        migration = policy
        idleTimeoutSeconds = reader.int(forKey: "http.idleTimeoutSeconds", default: defaults.idleTimeoutSeconds)
        guard (1...3600).contains(idleTimeoutSeconds) else { throw ConfigurationError(key: "http.idleTimeoutSeconds", reason: "must be 1–3600") }
        requestReadTimeoutSeconds = reader.int(forKey: "http.requestReadTimeoutSeconds", default: defaults.requestReadTimeoutSeconds)
        guard (1...3600).contains(requestReadTimeoutSeconds) else {
            throw ConfigurationError(key: "http.requestReadTimeoutSeconds", reason: "must be 1–3600")
        }
        drainSeconds = reader.int(forKey: "http.drainSeconds")
        if let drainSeconds, !(0...300).contains(drainSeconds) {
            throw ConfigurationError(key: "http.drainSeconds", reason: "must be 0–300")
        }
        let auditShutdown = reader.int(forKey: "audit.shutdownTimeoutSeconds", default: 5)
        guard (0...300).contains(auditShutdown) else {
            throw ConfigurationError(key: "audit.shutdownTimeoutSeconds", reason: "must be 0–300")
        }
        auditShutdownTimeout = .seconds(auditShutdown)
        redis = try RedisSettings(reader: reader)
        webDirectory = reader.string(forKey: "web.dir")
        webClientID = reader.string(forKey: "web.oidcClientId")
        webScope = reader.string(forKey: "web.oidcScope", default: webScope)
    }

    /// `database.url` (`postgres://user:password@host:port/database?sslmode=…`) with its pool settings.
    static func postgres(_ reader: ConfigReader) throws -> PostgresSettings? {
        guard let url = reader.string(forKey: "database.url", isSecret: true), !url.isEmpty else { return nil }
        let poolSize = reader.int(forKey: "database.poolSize", default: 10)
        guard (1...200).contains(poolSize) else { throw ConfigurationError(key: "database.poolSize", reason: "must be 1–200") }
        let timeout = reader.int(forKey: "database.timeoutSeconds", default: 5)
        guard (1...300).contains(timeout) else { throw ConfigurationError(key: "database.timeoutSeconds", reason: "must be 1–300") }
        guard let settings = PostgresSettings(url: url, poolSize: poolSize, timeout: .seconds(timeout)) else {
            throw ConfigurationError(
                key: "database.url",
                reason: "must be a postgres:// URL such as postgres://parley:secret@db.example.com:5432/parley?sslmode=require")
        }
        return settings
    }

    /// One issuer from `auth.oidc.*` (environment-friendly), plus any named in `auth.issuers`,
    /// each under `auth.issuer.<name>.*`.
    static func issuers(_ reader: ConfigReader) throws -> [IssuerConfiguration] {
        var issuers: [IssuerConfiguration] = []
        if let single = try issuer(named: "oidc", prefix: "auth.oidc", reader) { issuers.append(single) }
        for name in reader.stringArray(forKey: "auth.issuers", default: []) {
            guard let issuer = try issuer(named: name, prefix: "auth.issuer.\(name)", reader) else {
                throw ConfigurationError(key: "auth.issuer.\(name).issuer", reason: "is required for every name in auth.issuers")
            }
            issuers.append(issuer)
        }
        return issuers
    }

    static func issuer(named name: String, prefix: String, _ reader: ConfigReader) throws -> IssuerConfiguration? {
        guard let url = reader.string(forKey: ConfigKey("\(prefix).issuer")), !url.isEmpty else { return nil }
        let presetName = reader.string(forKey: ConfigKey("\(prefix).preset"), default: IssuerPreset.oidc.rawValue)
        guard let preset = IssuerPreset(rawValue: presetName) else {
            throw ConfigurationError(key: "\(prefix).preset", reason: "must be keycloak, better-auth or oidc")
        }
        var issuer = IssuerConfiguration(name: name, preset: preset, issuer: url, audience: reader.string(forKey: ConfigKey("\(prefix).audience")))
        issuer.jwksURL = reader.string(forKey: ConfigKey("\(prefix).jwksUrl"))
        issuer.tenantClaim = reader.string(forKey: ConfigKey("\(prefix).tenantClaim"))
        issuer.roleClaims = reader.stringArray(forKey: ConfigKey("\(prefix).rolesClaims"))
        issuer.clientID = reader.string(forKey: ConfigKey("\(prefix).clientId"))
        issuer.algorithms = reader.stringArray(forKey: ConfigKey("\(prefix).algorithms"))
        let refetch = reader.int(forKey: ConfigKey("\(prefix).jwksRefetchSeconds"), default: 30)
        guard (0...86_400).contains(refetch) else {
            throw ConfigurationError(key: "\(prefix).jwksRefetchSeconds", reason: "must be 0–86400")
        }
        issuer.refetchInterval = Duration.seconds(refetch)
        do {
            _ = try issuer.resolved()
        } catch let error as IssuerConfigurationError {
            throw ConfigurationError(key: prefix, reason: error.reason)
        }
        return issuer
    }

    /// The providers named in `model.providers`, each under `model.provider.<name>.*`.
    static func providers(_ reader: ConfigReader) throws -> [ProviderConfiguration] {
        try reader.stringArray(forKey: "model.providers", default: []).map { name in
            let prefix = "model.provider.\(name)"
            func key(_ suffix: String) -> ConfigKey { ConfigKey("\(prefix).\(suffix)") }
            let kindName = reader.string(forKey: key("kind"), default: "openai")
            guard let kind = ProviderConfiguration.Kind(rawValue: kindName) else {
                throw ConfigurationError(key: "\(prefix).kind", reason: "must be openai or llamacpp")
            }
            // A model path means Parley runs llama-server itself; the base URL is then its own.
            let modelPath = reader.string(forKey: key("modelPath"))
            if modelPath != nil, kind != .llamacpp {
                throw ConfigurationError(key: "\(prefix).modelPath", reason: "only a llamacpp provider can run a local model")
            }
            let baseURL = reader.string(forKey: key("baseUrl")) ?? (modelPath != nil ? "http://127.0.0.1" : nil)
            guard let baseURL, let url = URL(string: baseURL), url.scheme == "http" || url.scheme == "https" else {
                throw ConfigurationError(
                    key: "\(prefix).baseUrl", reason: "is required (the API root, e.g. https://api.openai.com/v1) unless modelPath is set")
            }
            var provider = ProviderConfiguration(
                name: name, kind: kind, baseURL: baseURL,
                model: reader.string(forKey: key("model"), default: kind == .llamacpp ? "local" : "gpt-4o-mini"),
                apiKeyVariable: reader.string(forKey: key("apiKeyEnv")),
                external: reader.bool(forKey: key("external")))
            let timeout = reader.int(forKey: key("timeoutSeconds"), default: 60)
            let connect = reader.int(forKey: key("connectTimeoutSeconds"), default: 2)
            guard (1...600).contains(timeout), (1...60).contains(connect) else {
                throw ConfigurationError(key: "\(prefix).timeoutSeconds", reason: "timeouts must be 1–600 s (connect 1–60 s)")
            }
            provider.timeout = .seconds(timeout)
            provider.connectTimeout = .seconds(connect)
            provider.maxTokens = reader.int(forKey: key("maxTokens")) ?? (kind == .llamacpp ? 256 : nil)
            if let maxTokens = provider.maxTokens, !(1...32768).contains(maxTokens) {
                throw ConfigurationError(key: "\(prefix).maxTokens", reason: "must be 1–32768")
            }
            switch reader.string(forKey: key("tools"), default: "probe") {
            case "probe": provider.declaredTools = .unknown
            case "yes": provider.declaredTools = .tools
            case "no": provider.declaredTools = .textOnly
            default: throw ConfigurationError(key: "\(prefix).tools", reason: "must be probe, yes or no")
            }
            if let modelPath {
                var launch = LlamaServerSettings(
                    binary: reader.string(forKey: key("serverBinary"), default: "llama-server"), modelPath: modelPath,
                    port: reader.int(forKey: key("port"), default: 0), threads: reader.int(forKey: key("threads")),
                    contextSize: reader.int(forKey: key("contextSize"), default: 4096))
                guard (0...65535).contains(launch.port) else { throw ConfigurationError(key: "\(prefix).port", reason: "must be 0–65535") }
                guard launch.threads.map({ $0 >= 1 }) ?? true else {
                    throw ConfigurationError(key: "\(prefix).threads", reason: "must be at least 1")
                }
                guard launch.contextSize >= 256 else { throw ConfigurationError(key: "\(prefix).contextSize", reason: "must be at least 256") }
                launch.startupTimeout = .seconds(reader.int(forKey: key("startupTimeoutSeconds"), default: 180))
                provider.launch = launch
            }
            return provider
        }
    }

    /// The layered reader: `overrides` (the command line) > environment > `.env` > config file.
    public static func reader(overrides: [String: ConfigContent] = [:], configFile: String? = nil) async throws -> ConfigReader {
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "command line",
                values: Dictionary(uniqueKeysWithValues: overrides.map { (AbsoluteConfigKey(ConfigKey($0.key)), ConfigValue($0.value, isSecret: false)) })),
            EnvironmentVariablesProvider().prefixKeys(with: "parley"),
            try await EnvironmentVariablesProvider(environmentFilePath: ".env", allowMissing: true).prefixKeys(with: "parley"),
        ]
        let file = configFile ?? ProcessInfo.processInfo.environment["PARLEY_CONFIG"]
        if let file, !file.isEmpty {
            providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(file)))
        }
        return ConfigReader(providers: providers)
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public let key: String
    public let reason: String

    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }

    public var description: String { "configuration \(key): \(reason)" }
}

/// The rate limits, each `N per window` or `off`.
public struct RateLimitSettings: Sendable {
    /// Per user (across their tenants' requests).
    public var user: RateLimitPolicy? = RateLimitPolicy(name: "user", limit: 120, window: .seconds(60))
    /// Per client IP, authenticated or not.
    public var ip: RateLimitPolicy? = RateLimitPolicy(name: "ip", limit: 600, window: .seconds(60))
    /// Per tenant, all its users together.
    public var tenant: RateLimitPolicy? = RateLimitPolicy(name: "tenant", limit: 6_000, window: .seconds(60))
    /// Refused tokens per client IP: past it, the IP gets 429 before its token is even looked at.
    public var authFailures: RateLimitPolicy? = RateLimitPolicy(name: "auth-failure", limit: 20, window: .seconds(60))
    /// When the limiter's storage fails: let requests through (true) or answer 503 (false).
    public var failOpen = true

    public init() {}

    init(reader: ConfigReader) throws {
        func policy(_ key: String, _ name: String, _ fallback: RateLimitPolicy?) throws -> RateLimitPolicy? {
            guard let text = reader.string(forKey: ConfigKey("ratelimit.\(key)")) else { return fallback }
            do {
                return try RateLimitPolicy.parse(text, name: name)
            } catch {
                throw ConfigurationError(key: "ratelimit.\(key)", reason: "must look like \"60 per minute\" or \"10 per 30s\", or \"off\"")
            }
        }
        let defaults = RateLimitSettings()
        user = try policy("user", "user", defaults.user)
        ip = try policy("ip", "ip", defaults.ip)
        tenant = try policy("tenant", "tenant", defaults.tenant)
        authFailures = try policy("authFailures", "auth-failure", defaults.authFailures)
        failOpen = reader.bool(forKey: "ratelimit.failOpen", default: true)
    }
}

/// `redis.*` and `audit.*`: where Redis is, and how the audit workers use it.
public struct RedisSettings: Sendable {
    public var connection: RedisConfiguration
    /// Run an audit worker in this process (`audit.worker = inprocess`), or leave the queue to
    /// `parley worker` processes (`off`).
    public var inProcessWorker = true
    public var consumer = RedisAuditConsumer.Settings()
    /// How long the conversation context stays cached.
    public var contextTTL: Duration = .seconds(300)

    public init(connection: RedisConfiguration) {
        self.connection = connection
    }

    /// The conversation-context cache on `pool`, or `nil` when its TTL is 0 (off).
    public func contextCache(on pool: RedisConnectionPool, logger: Logger) -> RedisContextCache? {
        contextTTL > .zero ? RedisContextCache(client: pool, ttl: contextTTL, logger: logger) : nil
    }

    /// `nil` when `redis.url` is not set.
    init?(reader: ConfigReader) throws {
        guard let url = reader.string(forKey: "redis.url", isSecret: true), !url.isEmpty else { return nil }
        do {
            connection = try RedisConfiguration(url: url)
        } catch {
            throw ConfigurationError(key: "redis.url", reason: "\(error); e.g. redis://parley:secret@127.0.0.1:6379/0")
        }
        connection.poolSize = reader.int(forKey: "redis.poolSize", default: 4)
        guard (1...64).contains(connection.poolSize) else { throw ConfigurationError(key: "redis.poolSize", reason: "must be 1–64") }
        let timeout = reader.int(forKey: "redis.timeoutMilliseconds", default: 500)
        guard (10...60_000).contains(timeout) else {
            throw ConfigurationError(key: "redis.timeoutMilliseconds", reason: "must be 10–60000")
        }
        connection.commandTimeout = .milliseconds(timeout)
        connection.connectTimeout = .milliseconds(max(timeout, 1000))
        connection.clientName = "parley"
        switch reader.string(forKey: "audit.worker", default: "inprocess") {
        case "inprocess": inProcessWorker = true
        case "off": inProcessWorker = false
        default: throw ConfigurationError(key: "audit.worker", reason: "must be inprocess or off")
        }
        func milliseconds(_ key: ConfigKey, _ fallback: Duration, _ range: ClosedRange<Int>) throws -> Duration {
            let value = reader.int(forKey: key, default: Int(fallback.components.seconds * 1000))
            guard range.contains(value) else { throw ConfigurationError(key: "\(key)", reason: "must be \(range.lowerBound)–\(range.upperBound)") }
            return .milliseconds(value)
        }
        consumer.claimIdle = try milliseconds("audit.claimIdleMilliseconds", consumer.claimIdle, 100...3_600_000)
        consumer.claimInterval = try milliseconds("audit.claimIntervalMilliseconds", consumer.claimInterval, 100...3_600_000)
        consumer.writeDelay = try milliseconds("audit.testWriteDelayMilliseconds", .zero, 0...60_000)
        consumer.maxDeliveries = reader.int(forKey: "audit.maxDeliveries", default: consumer.maxDeliveries)
        guard (1...100).contains(consumer.maxDeliveries) else { throw ConfigurationError(key: "audit.maxDeliveries", reason: "must be 1–100") }
        contextTTL = try milliseconds("cache.contextTtlMilliseconds", contextTTL, 0...86_400_000)
    }
}

/// `parley mcp` and the `/mcp` endpoint.
public struct MCPSettings: Sendable {
    /// Where `parley mcp` listens (the API server serves `/mcp` on its own port too).
    public var host = "127.0.0.1"
    public var port = 8090
    /// Stateful sessions (bound to their creator, expiring) or a fresh server per request.
    public var stateful = true
    public var sessionIdle: Duration = .seconds(30 * 60)
    /// Run the agent's tools in process (the default) through this MCP client transport.
    public var inProcess = true
    /// A `parley mcp` service the agent reaches its tools at instead (its `/mcp` URL).
    public var url: String?
    /// How long one call to that service may take, connecting included.
    public var timeout: Duration = .seconds(10)

    public init() {}

    init(reader: ConfigReader, defaultHost: String) throws {
        host = reader.string(forKey: "mcp.host", default: defaultHost)
        port = reader.int(forKey: "mcp.port", default: port)
        guard (0...65535).contains(port) else { throw ConfigurationError(key: "mcp.port", reason: "must be 0–65535") }
        switch reader.string(forKey: "mcp.sessions", default: "stateful") {
        case "stateful": stateful = true
        case "stateless": stateful = false
        default: throw ConfigurationError(key: "mcp.sessions", reason: "must be stateful or stateless")
        }
        let idle = reader.int(forKey: "mcp.sessionIdleSeconds", default: 1800)
        guard idle >= 10 else { throw ConfigurationError(key: "mcp.sessionIdleSeconds", reason: "must be at least 10") }
        sessionIdle = .seconds(idle)
        inProcess = reader.bool(forKey: "mcp.inProcess", default: true)
        url = reader.string(forKey: "mcp.url")
        let timeoutSeconds = reader.int(forKey: "mcp.timeoutSeconds", default: 10)
        guard (1...300).contains(timeoutSeconds) else { throw ConfigurationError(key: "mcp.timeoutSeconds", reason: "must be 1–300") }
        timeout = .seconds(timeoutSeconds)
        if let url, !(url.hasPrefix("http://") || url.hasPrefix("https://")) || URL(string: url)?.host == nil {
            throw ConfigurationError(key: "mcp.url", reason: "must be the http(s) URL of a parley mcp service, e.g. http://10.0.0.5:8090/mcp")
        }
    }
}

/// Message retention: `retention.days` (0 keeps everything; a tenant's `retention.days` flag
/// overrides it) and how often `parley serve` purges.
public struct RetentionSettings: Sendable {
    public var days = 30
    public var interval: Duration = .seconds(3600)
    /// `audit.retentionDays`: how long audit events are kept (0: forever).
    public var auditDays = 365

    public init() {}

    init(reader: ConfigReader) throws {
        days = reader.int(forKey: "retention.days", default: days)
        guard (0...FeatureFlag.maxRetentionDays).contains(days) else {
            throw ConfigurationError(key: "retention.days", reason: "must be 0 (keep everything) to \(FeatureFlag.maxRetentionDays)")
        }
        let minutes = reader.int(forKey: "retention.intervalMinutes", default: 60)
        guard (1...1440).contains(minutes) else { throw ConfigurationError(key: "retention.intervalMinutes", reason: "must be 1–1440") }
        interval = .seconds(minutes * 60)
        auditDays = reader.int(forKey: "audit.retentionDays", default: auditDays)
        guard (0...FeatureFlag.maxRetentionDays).contains(auditDays) else {
            throw ConfigurationError(key: "audit.retentionDays", reason: "must be 0 (keep every event) to \(FeatureFlag.maxRetentionDays)")
        }
    }
}
