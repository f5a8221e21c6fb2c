// swift-tools-version: 6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "parley",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "parley", targets: ["Parley"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
        // OpenTelemetry traces over OTLP/HTTP only (the gRPC exporter is not built).
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    ],
    targets: [
        // Domain types and the protocols the rest implements; no I/O.
        .target(
            name: "ParleyCore",
            swiftSettings: swiftSettings
        ),
        // Storage: SQLite (a file per tenant, a control database) or PostgreSQL (a schema per
        // tenant, a shared schema), migrations, the audit chain.
        .target(
            name: "ParleyStore",
            dependencies: [
                "ParleyCore",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                // For its vendored SQLite (the `VaporCSQLite` module), which `SQLiteHandle` calls
                // directly to keep prepared statements; SQLiteNIO's own API is not used.
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // A small Redis client (RESP2 over SwiftNIO: pooled, pipelined, timeouts, reconnect) and
        // what Parley keeps in Redis: rate limits, the audit stream, the conversation-context cache.
        .target(
            name: "ParleyRedis",
            dependencies: [
                "ParleyCore",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // PII detection and pseudonymization: one recognizer per kind of personal data, a registry
        // that composes them, the placeholder map. Pure text processing, no I/O.
        .target(
            name: "ParleyPrivacy",
            swiftSettings: swiftSettings
        ),
        // Models behind the OpenAI-compatible API: the client, providers, routes and fallback.
        .target(
            name: "ParleyModels",
            dependencies: [
                "ParleyCore", "ParleyPrivacy",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Tool definitions, the tool executor, the basic (rule-based) agent and the model agent loop.
        .target(
            name: "ParleyAgent",
            dependencies: [
                "ParleyCore", "ParleyModels", "ParleyPrivacy",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // Parley's MCP server (the five task tools), the in-process and HTTP clients the agent uses,
        // and framework-neutral Streamable HTTP endpoints.
        .target(
            name: "ParleyMCP",
            dependencies: [
                "ParleyCore", "ParleyAgent", "ParleyModels",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // JWT verification against issuers' JWKS (fetched, cached, rotated), presets, the development issuer.
        .target(
            name: "ParleyAuth",
            dependencies: [
                "ParleyCore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The audit pipeline, apart from HTTP: events from the queue (in process, or the Redis Stream
        // with its consumer group) into each tenant's hash-chained log, retries, the dead-letter file.
        .target(
            name: "ParleyAudit",
            dependencies: [
                "ParleyCore", "ParleyStore", "ParleyRedis",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Swift Concurrency's global executor hook, so that tasks can run on SwiftNIO's event loops.
        .target(name: "CParleyExecutor"),
        // The Hummingbird application: routes, middleware, problem+json, metrics.
        .target(
            name: "ParleyServer",
            dependencies: [
                "ParleyCore", "ParleyStore", "ParleyRedis", "ParleyAgent", "ParleyAuth", "ParleyModels", "ParleyMCP",
                "ParleyAudit", "CParleyExecutor",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The web chat and the OpenAPI document: plain files, served as they are.
            resources: [.copy("Web"), .copy("OpenAPI")],
            swiftSettings: swiftSettings
        ),
        // The `parley` executable: serve, mcp, token, migrate, audit, pii.
        .executableTarget(
            name: "Parley",
            dependencies: [
                "ParleyServer", "ParleyAuth", "ParleyStore", "ParleyRedis", "ParleyModels", "ParleyMCP", "ParleyAgent",
                "ParleyPrivacy", "ParleyAudit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyAgentTests", dependencies: ["ParleyAgent", "ParleyStore", "ParleyCore"], swiftSettings: swiftSettings),
        .testTarget(name: "ParleyCoreTests", dependencies: ["ParleyCore"], swiftSettings: swiftSettings),
        .testTarget(name: "ParleyPrivacyTests", dependencies: ["ParleyPrivacy"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ParleyMCPTests", dependencies: ["ParleyMCP", "ParleyAgent", "ParleyStore", "ParleyCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ParleyStoreTests",
            dependencies: [
                "ParleyStore", "ParleyCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyRedisTests",
            dependencies: [
                "ParleyRedis", "ParleyCore", "ParleyStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyAuthTests",
            dependencies: [
                "ParleyAuth", "ParleyCore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyServerTests",
            dependencies: [
                "ParleyServer", "ParleyAuth", "ParleyCore", "ParleyStore", "ParleyRedis", "ParleyModels", "ParleyAgent", "ParleyMCP",
                "ParleyAudit",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
