import Foundation
import Hummingbird
import Logging
import ParleyAgent
import ParleyAuth
import ParleyCore
import ParleyStore
import ServiceLifecycle

/// Everything a running Parley is made of, built once at start.
public struct ParleyServices: Sendable {
    public let configuration: ParleyConfiguration
    public let storeProvider: any TenantStoreProvider
    public let devIssuer: DevelopmentIssuer?
    public let verifier: any TokenVerifier
    public let metrics: ParleyMetrics

    public static func make(configuration: ParleyConfiguration, logger: Logger) async throws -> ParleyServices {
        let dataDirectory = configuration.dataDirectoryURL
        let storeProvider = try SQLiteStoreProvider(dataDirectory: dataDirectory, logger: logger)
        var trusted: [TrustedIssuer] = []
        var devIssuer: DevelopmentIssuer?
        if configuration.devAuthEnabled {
            let issuer = try DevelopmentIssuer.loadOrCreate(dataDirectory: dataDirectory)
            trusted.append(issuer.trustedIssuer)
            devIssuer = issuer
        }
        return ParleyServices(
            configuration: configuration, storeProvider: storeProvider, devIssuer: devIssuer,
            verifier: try await JWKSTokenVerifier.make(trusting: trusted), metrics: ParleyMetrics())
    }
}

/// Builds the Hummingbird application: routes, middleware and the services it runs.
public func buildApplication(configuration: ParleyConfiguration, logger: Logger) async throws -> some ApplicationProtocol {
    let services = try await ParleyServices.make(configuration: configuration, logger: logger)
    if configuration.devAuthEnabled {
        logger.notice("development auth is on: tokens from `parley token` are accepted", metadata: ["issuer": "\(DevelopmentIssuer.issuer)"])
        if !ParleyConfiguration.isLoopback(configuration.host) {
            logger.warning("development auth is on while listening on \(configuration.host): anyone with the data directory's key can sign in")
        }
    }
    return Application(
        router: buildRouter(services: services, logger: logger),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "parley"),
        services: [StoreLifecycle(provider: services.storeProvider)],
        logger: logger)
}

func buildRouter(services: ParleyServices, logger: Logger) -> Router<ParleyRequestContext> {
    let stores = TenantStores(
        provider: services.storeProvider,
        provisioning: services.configuration.autoProvisionTenants ? .createIfMissing : .existingOnly)
    let chat = ChatService(agent: BasicAgent(), contextMessages: services.configuration.contextMessages)

    let router = Router(context: ParleyRequestContext.self)
    router.add(middleware: ObservationMiddleware(metrics: services.metrics, accessLogger: logger))
    OperationsController(stores: stores, metrics: services.metrics, devIssuer: services.devIssuer)
        .addRoutes(to: router)

    let auth = AuthMiddleware(verifier: services.verifier)
    let api = router.group("api/v1").add(middleware: auth)
    TaskController(stores: stores).addRoutes(to: api)
    let userScoped = router.group("api/{user_id}").add(middleware: auth)
    ChatController(stores: stores, chat: chat, metrics: services.metrics).addRoutes(api: api, userScoped: userScoped)
    return router
}

/// Closes the tenant databases when the application shuts down.
struct StoreLifecycle: Service {
    let provider: any TenantStoreProvider

    func run() async throws {
        try? await gracefulShutdown()
        try await provider.close()
    }
}
