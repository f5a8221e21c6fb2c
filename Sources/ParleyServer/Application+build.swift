import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ParleyAgent
import ParleyAudit
import ParleyAuth
import ParleyCore
import ParleyMCP
import ParleyModels
import ParleyRedis
import ParleyStore
import ServiceLifecycle

/// Everything a running Parley is made of, built once at start.
public struct ParleyServices: Sendable {
    public let configuration: ParleyConfiguration
    public let storeProvider: any TenantStoreProvider
    public let control: any ControlStore
    /// Schemas older than this build (readiness reports them when `database.migrate` is off).
    public let schemas: any SchemaStatus
    /// Set on SIGTERM: readiness answers 503 while requests are still served.
    public let drain = DrainState()
    public let devIssuer: DevelopmentIssuer?
    public let verifier: JWKSTokenVerifier
    public let rateLimiter: any RateLimiter
    public let auditQueue: any AuditQueue
    /// Shared Redis connections, when `redis.url` is set.
    public let redis: RedisConnectionPool?
    /// Recent conversation context in Redis (with `redis.url`, unless its TTL is 0).
    public let contextCache: RedisContextCache?
    let auditWriter: AuditWriter
    public let metrics: ParleyMetrics
    /// Configured language models; `nil` when there are none.
    public let router: ModelRouter?
    let modelClients: [OpenAICompatibleClient]
    /// The `llama-server` processes Parley runs itself.
    public let localModels: [LlamaServerSupervisor]
    /// Model usage and budgets (Redis when configured, else the control store).
    public let usage: UsageMeter

    public static func make(
        configuration: ParleyConfiguration, logger: Logger, fetcher: any DocumentFetcher = HTTPDocumentFetcher(),
        rateLimiter: (any RateLimiter)? = nil
    ) async throws -> ParleyServices {
        let dataDirectory = configuration.dataDirectoryURL
        let storage = try await Storage.open(
            postgres: configuration.postgres, dataDirectory: dataDirectory, migration: configuration.migration, logger: logger)
        var trusted: [TrustedIssuer] = []
        var devIssuer: DevelopmentIssuer?
        if configuration.devAuthEnabled {
            let issuer = try DevelopmentIssuer.loadOrCreate(dataDirectory: dataDirectory)
            trusted.append(try await issuer.trustedIssuer())
            devIssuer = issuer
        }
        let metrics = ParleyMetrics()
        let limits = configuration.rateLimits
        metrics.declareRateLimits([limits.user, limits.ip, limits.tenant, limits.authFailures].compactMap { $0?.name })
        for issuer in configuration.issuers {
            metrics.declareIssuer(issuer.issuer)
            let counted = FailureCountingFetcher(base: fetcher) { metrics.recordJWKSFetchFailure(issuer: issuer.issuer) }
            trusted.append(.remote(try issuer.resolved(), fetcher: counted, logger: logger))
        }
        let verifier = JWKSTokenVerifier(trusting: trusted)
        // Keys are fetched before the first request; an unreachable provider is retried on demand.
        await verifier.preload()

        if let statistics = storage.statistics {
            metrics.addCollector { metrics in
                metrics.setDatabase(
                    backend: statistics.backend, inFlight: statistics.operationsInFlight, maxConnections: statistics.maxConnections,
                    errors: statistics.errors)
            }
        }
        let auditWriter = AuditWriter(
            stores: storage.tenants, control: storage.control,
            deadLetterURL: dataDirectory.appendingPathComponent("audit-dead-letter.jsonl"), metrics: metrics, logger: logger)
        let redis = configuration.redis.map { RedisConnectionPool(configuration: $0.connection, logger: logger) }
        if let redis {
            metrics.addCollector { metrics in metrics.setRedis(open: redis.openConnections, size: redis.size, errors: redis.failures) }
        }
        let auditQueue: any AuditQueue =
            if let redis {
                // What cannot reach Redis in the end is stored directly.
                RedisAuditStream(client: redis, logger: logger, spill: { await auditWriter.write($0) })
            } else {
                InProcessAuditQueue()
            }
        var clients: [OpenAICompatibleClient] = []
        var providers: [ModelProvider] = []
        var localModels: [LlamaServerSupervisor] = []
        for var provider in configuration.providers {
            if var launch = provider.launch {
                launch.logFile = launch.logFile ?? configuration.dataDirectoryURL.appendingPathComponent("llama-\(provider.name).log").path
                let supervisor = try LlamaServerSupervisor(name: provider.name, settings: launch, logger: logger)
                provider.baseURL = supervisor.baseURL
                localModels.append(supervisor)
            }
            let apiKey = provider.apiKeyVariable.flatMap { ProcessInfo.processInfo.environment[$0] }
            if let variable = provider.apiKeyVariable, apiKey == nil {
                logger.warning("the API key variable of a model provider is not set", metadata: ["provider": "\(provider.name)", "variable": "\(variable)"])
            }
            let client = OpenAICompatibleClient(
                settings: .init(
                    baseURL: provider.baseURL, model: provider.model, apiKey: apiKey, connectTimeout: provider.connectTimeout,
                    timeout: provider.timeout))
            clients.append(client)
            providers.append(ModelProvider(configuration: provider, model: client, breaker: configuration.providerBreaker))
            metrics.declareProvider(provider.name, model: provider.model)
        }
        let router = providers.isEmpty
            ? nil
            : ModelRouter(
                providers: providers, defaultRoute: configuration.modelRoute, logger: logger,
                onFallback: { metrics.recordModelFallback(provider: $0.provider, reason: $0.reason) },
                onCall: { metrics.recordModelCall($0) })
        if let router {
            metrics.addCollector { metrics in
                for (name, provider) in router.providers { metrics.setProviderCoolingDown(name, provider.isCoolingDown) }
            }
        }
        return ParleyServices(
            configuration: configuration, storeProvider: storage.tenants, control: storage.control, schemas: storage.schemas,
            devIssuer: devIssuer,
            verifier: verifier,
            rateLimiter: rateLimiter ?? redis.map { RedisRateLimiter(client: $0) } ?? InProcessRateLimiter(),
            auditQueue: auditQueue, redis: redis,
            contextCache: redis.flatMap { redis in configuration.redis?.contextCache(on: redis, logger: logger) },
            auditWriter: auditWriter, metrics: metrics, router: router, modelClients: clients, localModels: localModels,
            usage: UsageMeter(
                ledger: redis.map { RedisUsageLedger(client: $0) } ?? storage.control.usage, settings: configuration.budget,
                metrics: metrics, logger: logger, record: { auditQueue.publish($0) }))
    }
}

extension ParleyServices {
    /// The retention purge on these stores: tenants' stores as requests see them (the context
    /// cache is cleared of what it removes), events into the audit queue.
    public func retentionPurger(now: @escaping @Sendable () -> Date = Date.init) -> RetentionPurger {
        let stores = TenantStores(provider: storeProvider, provisioning: .existingOnly, contextCache: contextCache)
        let provider = storeProvider
        let queue = auditQueue
        return RetentionPurger(
            tenants: { try await provider.tenants() }, store: { try await stores.store(for: $0) },
            flags: FlagService(store: control.flags), defaultDays: configuration.retention.days,
            auditDays: configuration.retention.auditDays, systemAudit: control.systemAudit, now: now,
            record: { queue.publish($0) }, metrics: metrics)
    }

    func auditWorkerMode(logger: Logger) -> AuditWorker.Mode {
        if let stream = auditQueue as? RedisAuditStream, let redis, let settings = configuration.redis {
            let consumer = settings.inProcessWorker ? RedisAuditConsumer(pool: redis, settings: settings.consumer, logger: logger) : nil
            return .redis(stream, consumer: consumer)
        }
        return .inProcess(auditQueue as? InProcessAuditQueue ?? InProcessAuditQueue())
    }
}

/// What an application serves: the whole API (with `/mcp`), or only the MCP service (`parley mcp`).
public enum ParleySurface: Sendable {
    case api
    case mcp
}

/// Builds the Hummingbird application: routes, middleware and the services it runs.
public func buildApplication(configuration: ParleyConfiguration, logger: Logger) async throws -> some ApplicationProtocol {
    try await buildApplication(services: try await ParleyServices.make(configuration: configuration, logger: logger), logger: logger)
}

/// `tracing`: the span exporter `bootstrapObservability` returned, run first so that it stops last
/// (after the server's final spans).
public func buildApplication(
    services: ParleyServices, logger: Logger, surface: ParleySurface = .api, tracing: (any Service)? = nil
) async throws -> some ApplicationProtocol {
    let configuration = services.configuration
    if configuration.devAuthEnabled {
        logger.notice("development auth is on: tokens from `parley token` are accepted", metadata: ["issuer": "\(DevelopmentIssuer.issuer)"])
        if !ParleyConfiguration.isLoopback(configuration.host) {
            logger.warning("development auth is on while listening on \(configuration.host): anyone with the data directory's key can sign in")
        }
    }
    if configuration.issuers.isEmpty && !configuration.devAuthEnabled {
        let why = ParleyConfiguration.isLoopback(configuration.host)
            ? "dev auth is off" : "dev auth is off because Parley listens on \(configuration.host), not on loopback"
        logger.warning(
            "nobody can sign in: no identity provider is configured and \(why). Set PARLEY_AUTH_OIDC_ISSUER and PARLEY_AUTH_OIDC_AUDIENCE (docs/identity-providers.md), or for a trial PARLEY_AUTH_DEV=true and sign in with a token from `parley token`")
    }
    let worker = AuditWorker(
        mode: services.auditWorkerMode(logger: logger), writer: services.auditWriter, metrics: services.metrics,
        shutdownTimeout: configuration.auditShutdownTimeout)
    let host = surface == .mcp ? configuration.mcp.host : configuration.host
    let port = surface == .mcp ? configuration.mcp.port : configuration.port
    let mcp = MCPService(configuration: configuration, auditor: Auditor(queue: services.auditQueue), host: host, logger: logger)
    // Models (and the llama-servers Parley runs) and retention belong to the API server, not to `parley mcp`.
    let api = surface == .api
    let lifecycles: [any Service] =
        (tracing.map { [$0] } ?? []) + [StorageLifecycle(services: services, auditWorker: worker)]
        + (api ? [ModelLifecycle(services: services)] : []) + [mcp]
        + (api
            ? [
                RetentionJob(
                    purger: services.retentionPurger(), interval: configuration.retention.interval, firstRun: .seconds(60), logger: logger),
                UsageFlushJob(meter: services.usage, interval: .seconds(1)),
            ]
            : [])
    return Application(
        router: buildRouter(services: services, mcp: mcp, surface: surface, logger: logger),
        server: .http1(configuration: httpLimits(configuration)),
        configuration: .init(address: .hostname(host, port: port), serverName: "parley"),
        services: lifecycles,
        logger: logger)
}

/// What the HTTP layer refuses before any route runs: a connection that sends nothing (or only part
/// of a request) for `http.idleTimeoutSeconds` is closed, and so is one whose request has not fully
/// arrived `http.requestReadTimeoutSeconds` after its first byte (slow clients cannot hold
/// connections open, however they pace their bytes); request headers over 32 KiB, or over 100
/// fields, get 400 (tokens are at most 16 KiB).
func httpLimits(_ configuration: ParleyConfiguration) -> HTTP1Channel.Configuration {
    HTTP1Channel.Configuration(
        additionalChannelHandlers: [RequestReadDeadline(timeout: .seconds(Int64(configuration.requestReadTimeoutSeconds)))],
        idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)),
        httpDecoderConfiguration: .init(
            maxHeaderFieldSize: ParleyConfiguration.maxHeaderBytes, maxHeaderListSize: ParleyConfiguration.maxHeaderBytes,
            maxHeaderFieldCount: 100))
}

func buildRouter(services: ParleyServices, mcp: MCPService, surface: ParleySurface, logger: Logger) -> Router<ParleyRequestContext> {
    let configuration = services.configuration
    let stores = TenantStores(
        provider: services.storeProvider,
        provisioning: configuration.autoProvisionTenants ? .createIfMissing : .existingOnly,
        contextCache: services.contextCache)
    // The agent reaches its tools through MCP: a `parley mcp` service, or an in-process client (or
    // directly, if configured so).
    let toolProvider: any ToolProvider =
        if let url = configuration.mcp.url {
            MCPRemoteToolProvider(endpoint: url, timeout: configuration.mcp.timeout, logger: logger)
        } else if configuration.mcp.inProcess {
            MCPInProcessToolProvider(toolServer: MCPToolServer(logger: logger))
        } else {
            DirectToolProvider()
        }
    let metrics = services.metrics
    let chat = ChatService(
        agent: BasicAgent(), contextMessages: configuration.contextMessages, toolProvider: toolProvider,
        onToolCall: { record, duration in metrics.recordToolCall(name: record.name, ok: record.result["error"] == nil, duration: duration) })
    let flags = FlagService(store: services.control.flags)
    let auditor = Auditor(queue: services.auditQueue)
    let gate = RateLimitGate(limiter: services.rateLimiter, settings: configuration.rateLimits, metrics: services.metrics)

    let router = Router(context: ParleyRequestContext.self)
    // Outermost: the server span covers everything else, and continues a caller's traceparent.
    if configuration.telemetry.enabled { router.add(middleware: TracingMiddleware()) }
    router.add(
        middleware: BrowserSecurityMiddleware(
            allowedOrigins: Set(configuration.corsAllowedOrigins), alwaysHSTS: configuration.hsts,
            trustForwardedProto: configuration.forwardedHops > 0))
    router.add(
        middleware: ObservationMiddleware(
            metrics: services.metrics, accessLogger: logger, clientAddress: ClientAddressPolicy(hops: configuration.forwardedHops)))
    OperationsController(
        stores: stores, metrics: services.metrics, devIssuer: services.devIssuer,
        router: surface == .api ? services.router : nil, localModels: surface == .api ? services.localModels : [],
        redis: services.redis, failOpen: configuration.rateLimits.failOpen,
        schemas: configuration.migration == .off ? services.schemas : nil, drain: services.drain
    ).addRoutes(to: router)

    // Client limit, then the token (refused tokens are limited per IP), then per-user and
    // per-tenant limits, then the audit of what the request did.
    func authenticated(_ group: RouterGroup<ParleyRequestContext>) -> RouterGroup<ParleyRequestContext> {
        group
            .add(middleware: RateLimitMiddleware(gate: gate, stage: .client(authFailures: true), verifier: services.verifier))
            .add(middleware: AuthMiddleware(verifier: services.verifier, limits: gate, auditor: auditor, metrics: services.metrics))
            .add(middleware: RateLimitMiddleware(gate: gate, stage: .principal))
            .add(middleware: AuditMiddleware(auditor: auditor))
    }

    // MCP over Streamable HTTP: a 401 points MCP clients at the protected-resource metadata.
    let discovery = MCPDiscovery(
        publicBaseURL: configuration.publicURL, trustForwardedProto: configuration.forwardedHops > 0,
        authorizationServers: configuration.issuers.map(\.issuer))
    discovery.addRoutes(to: router)
    let mcpGroup = router.group("mcp").add(middleware: MCPChallengeMiddleware(discovery: discovery))
    MCPController(endpoint: mcp.endpoint, stores: stores).addRoutes(to: authenticated(mcpGroup))
    guard surface == .api else { return router }

    let webSignIn = configuration.webClientID.flatMap { client in
        configuration.issuers.first.map { WebController.OIDC(issuer: $0.issuer, clientID: client, scope: configuration.webScope) }
    }
    WebController(
        assets: WebAssets.load(directory: configuration.webDirectory, logger: logger), devIssuer: services.devIssuer, oidc: webSignIn,
        auditor: auditor
    ).addRoutes(to: router, limited: router.group("ui").add(middleware: RateLimitMiddleware(gate: gate, stage: .client())))
    OpenAPIController(document: OpenAPIDocument.load(logger: logger)).addRoutes(to: router)
    let api = authenticated(router.group("api/v1"))
    TaskController(stores: stores).addRoutes(to: api)
    AdminController(
        stores: stores, control: services.control, flags: flags, deadLetters: services.redis.map(RedisAuditDeadLetters.init)
    ).addRoutes(to: api)
    UsageController(usage: services.usage, flags: flags).addRoutes(to: api)
    UserDataController(stores: stores, usage: services.usage).addRoutes(to: api)
    let userScoped = authenticated(router.group("api/{user_id}"))
    let agents = ChatAgents(ai: services.router.map { ModelAgent(router: $0, maxTurns: configuration.agentMaxTurns) })
    let chatController = ChatController(
        stores: stores, chat: chat, agents: agents, flags: flags, auditor: auditor, metrics: services.metrics,
        streams: StreamSlots(limits: configuration.streamLimits), usage: services.usage)
    chatController.addRoutes(api: api, userScoped: userScoped)
    ChatKitController(stores: stores, chat: chat, flags: flags, chatController: chatController)
        .addRoutes(to: authenticated(router.group("chatkit")))
    return router
}

/// The MCP endpoint behind `/mcp`: stateful sessions (swept when idle, closed on shutdown) or a
/// server per request.
struct MCPService: Service {
    let endpoint: any MCPHTTPEndpoint
    let sessions: MCPSessionRegistry?

    init(configuration: ParleyConfiguration, auditor: Auditor, host: String, logger: Logger) {
        let toolServer = MCPToolServer(logger: logger, onToolCall: { auditor.recordToolCall($0) })
        // DNS-rebinding protection on loopback; elsewhere bearer tokens and CORS keep browsers out.
        let origin: MCPOriginPolicy = ParleyConfiguration.isLoopback(host) ? .localhost : .disabled
        if configuration.mcp.stateful {
            let registry = MCPSessionRegistry(
                toolServer: toolServer, origin: origin, limits: .init(idleTimeout: configuration.mcp.sessionIdle), logger: logger)
            endpoint = registry
            sessions = registry
        } else {
            endpoint = MCPStatelessEndpoint(toolServer: toolServer, origin: origin, logger: logger)
            sessions = nil
        }
    }

    func run() async throws {
        if let sessions {
            await cancelWhenGracefulShutdown { await sessions.runSweeper(every: .seconds(30)) }
            await sessions.closeAll()
        } else {
            try? await gracefulShutdown()
        }
    }
}

/// Runs the audit worker and, on shutdown, lets it write what is queued before the databases
/// and the model connection pools close.
struct StorageLifecycle: Service {
    let services: ParleyServices
    let auditWorker: AuditWorker

    func run() async throws {
        try await auditWorker.run()
        for client in services.modelClients { try? await client.shutdown() }
        await services.redis?.shutdown()
        try await services.storeProvider.close()
        try await services.control.close()
    }
}

/// Runs the local `llama-server`s and probes every provider's tool capability: at start, and
/// again after a local server (re)starts, since it may have loaded another model.
struct ModelLifecycle: Service {
    let services: ParleyServices

    func run() async throws {
        if let router = services.router {
            await cancelWhenGracefulShutdown {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await router.probeAll() }
                    for local in services.localModels {
                        let provider = router.providers[local.name]
                        group.addTask {
                            await local.run {
                                provider?.forgetCapability()
                                _ = await provider?.toolCapability()
                            }
                        }
                    }
                }
            }
        }
        // A service that returns before shutdown ends the whole service group.
        try? await gracefulShutdown()
    }
}
