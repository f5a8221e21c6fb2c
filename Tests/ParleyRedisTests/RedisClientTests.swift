import Foundation
import Logging
import NIOCore
import NIOPosix
import ParleyCore
import Testing

@testable import ParleyRedis

/// The Redis the tests use: `PARLEY_TEST_REDIS_URL`, set by `scripts/test` after it has started
/// one with `scripts/start-redis.sh` (an ACL user with a password, so AUTH is exercised).
enum TestRedis {
    static func configuration() throws -> RedisConfiguration {
        guard let url = ProcessInfo.processInfo.environment["PARLEY_TEST_REDIS_URL"] else {
            throw Missing()
        }
        return try RedisConfiguration(url: url)
    }

    static func pool(_ adjust: (inout RedisConfiguration) -> Void = { _ in }) throws -> RedisConnectionPool {
        var configuration = try configuration()
        adjust(&configuration)
        return RedisConnectionPool(configuration: configuration, logger: Logger(label: "test"))
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "PARLEY_TEST_REDIS_URL is not set: run scripts/test, or `eval \"$(scripts/start-redis.sh)\"` and export PARLEY_TEST_REDIS_URL=$REDIS_URL"
        }
    }

    static func key(_ name: String) -> String { "test:\(name):\(UUID().uuidString.prefix(8))" }
}

@Suite("Redis client against a real redis-server")
struct RedisClientTests {
    @Test func authenticatesAndRefusesAWrongPassword() async throws {
        let pool = try TestRedis.pool()
        try await pool.ping()
        await pool.shutdown()

        var wrong = try TestRedis.configuration()
        wrong.password = "not-the-password"
        await #expect(throws: RedisServerError.self) {
            try await RedisConnection.connect(configuration: wrong, logger: Logger(label: "test"))
        }
    }

    @Test func databaseIndexFromTheURLSeparatesKeys() async throws {
        let zero = try TestRedis.pool()
        let one = try TestRedis.pool { $0.database = 1 }
        let key = TestRedis.key("db")
        try await zero.set(key, to: "in zero")
        #expect(try await one.get(key) == nil)
        #expect(try await zero.get(key).map { String(decoding: $0, as: UTF8.self) } == "in zero")
        await zero.shutdown()
        await one.shutdown()
    }

    @Test func concurrentCallersShareTwoPipelinedConnections() async throws {
        let pool = try TestRedis.pool { $0.poolSize = 2 }
        let key = TestRedis.key("incr")
        let replies = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<1000 {
                group.addTask { try await pool.send(RESPCommand("INCR", .string(key))).int ?? -1 }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        // Every caller got its own reply: the 1000 counts are 1…1000, each once.
        #expect(replies.sorted() == Array(1...1000))
        let clients = try await pool.send(RESPCommand("CLIENT", "LIST")).string ?? ""
        #expect(clients.split(separator: "\n").count >= 2)
        await pool.shutdown()
    }

    @Test func pipelineAnswersInOrderAndKeepsErrorsInPlace() async throws {
        let pool = try TestRedis.pool()
        let key = TestRedis.key("pipe")
        let replies = try await pool.pipeline(
            [RESPCommand("SET", .string(key), "5"), RESPCommand("INCRBY", .string(key), "x"), RESPCommand("INCR", .string(key))],
            timeout: nil)
        #expect(replies[0] == .simpleString("OK"))
        guard case .error(let error) = replies[1] else { Issue.record("expected an error reply, got \(replies[1])"); return }
        #expect(error.code == "ERR")
        #expect(replies[2] == .integer(6))
        await pool.shutdown()
    }

    @Test func aTimeoutClosesTheConnectionAndThePoolReconnects() async throws {
        let pool = try TestRedis.pool { $0.poolSize = 1 }
        let started = ContinuousClock.now
        await #expect(throws: RedisClientError.timeout) {
            try await pool.send(RESPCommand("BLPOP", .string(TestRedis.key("nothing")), "5"), timeout: .milliseconds(200))
        }
        // Well before the 5 s Redis would take to answer.
        #expect(ContinuousClock.now - started < .seconds(3))
        // The late reply can no longer be matched; the next command gets a fresh connection.
        try await pool.ping()
        await pool.shutdown()
    }

    @Test func aKilledConnectionIsReplacedWithoutRestarting() async throws {
        let pool = try TestRedis.pool { $0.poolSize = 1; $0.clientName = "parley-kill-test" }
        try await pool.ping()
        let admin = try TestRedis.pool()
        // Only this pool's connection: other tests share the server.
        let clients = try await admin.send(RESPCommand("CLIENT", "LIST")).string ?? ""
        let line = try #require(clients.split(separator: "\n").first { $0.contains("name=parley-kill-test ") })
        let id = try #require(line.split(separator: " ").first { $0.hasPrefix("id=") }?.dropFirst(3))
        #expect(try await admin.send(RESPCommand("CLIENT", "KILL", "ID", .string(String(id)))) == .integer(1))
        // The first command may find the connection closing under it; the one after is on a new one.
        _ = try? await pool.ping()
        try await pool.ping()
        await pool.shutdown()
        await admin.shutdown()
    }

    @Test func anUnresponsiveRedisCostsOneConnectTimeoutThenFailsFastDuringTheBackOff() async throws {
        // A server that accepts connections and never answers: the handshake waits for its timeout.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        var configuration = RedisConfiguration(host: "127.0.0.1", port: silent.localAddress?.port ?? 0, password: "x")
        configuration.connectTimeout = .seconds(1)
        configuration.reconnectBackoff = .seconds(5)
        let pool = RedisConnectionPool(configuration: configuration, logger: Logger(label: "test"))
        var started = ContinuousClock.now
        await #expect(throws: (any Error).self) { try await pool.ping() }
        #expect(ContinuousClock.now - started >= .seconds(1))
        started = ContinuousClock.now
        for _ in 0..<100 {
            await #expect(throws: RedisClientError.self) { try await pool.ping() }
        }
        // 100 requests in less than one connect timeout: none of them tried to connect.
        #expect(ContinuousClock.now - started < .seconds(1))
        await pool.shutdown()
        try await silent.close()
    }

    @Test func scriptsRunBySHAAndReloadAfterAFlush() async throws {
        let pool = try TestRedis.pool()
        let loaded = try await pool.send(RESPCommand("SCRIPT", "LOAD", .string(RedisRateLimiter.gcra.source)))
        #expect(loaded.string == RedisRateLimiter.gcra.sha1)
        _ = try await pool.send(RESPCommand("SCRIPT", "FLUSH"))
        let script = RedisScript("return ARGV[1] .. KEYS[1]")
        #expect(try await pool.run(script, keys: ["k"], arguments: ["v"]).string == "vk")
        #expect(try await pool.send(RESPCommand("SCRIPT", "EXISTS", .string(script.sha1))).array == [.integer(1)])
        await pool.shutdown()
    }

    @Test func streamsWithAConsumerGroupClaimWhatADeadConsumerLeft() async throws {
        let pool = try TestRedis.pool()
        let stream = TestRedis.key("stream")
        #expect(try await pool.xgroupCreate(stream, group: "g") == true)
        #expect(try await pool.xgroupCreate(stream, group: "g") == false)
        let first = try await pool.xadd(stream, fields: [("event", "one")])
        _ = try await pool.xadd(stream, fields: [("event", "two")])
        let read = try await pool.xreadgroup(stream, group: "g", consumer: "dead", count: 10)
        #expect(read.map { $0.fields?["event"] } == ["one", "two"])
        #expect(try await pool.xreadgroup(stream, group: "g", consumer: "other", count: 10, block: .milliseconds(50)).isEmpty)
        #expect(try await pool.xack(stream, group: "g", ids: [first]) == 1)

        try await Task.sleep(for: .milliseconds(60))
        let claimed = try await pool.xautoclaim(stream, group: "g", consumer: "alive", minIdle: .milliseconds(50), count: 10)
        #expect(claimed.entries.map { $0.fields?["event"] } == ["two"])
        let pending = try await pool.xpending(stream, group: "g", count: 10)
        #expect(pending.map(\.consumer) == ["alive"])
        #expect(pending.map(\.deliveries) == [2])
        #expect(try await pool.xpendingSummary(stream, group: "g").perConsumer == ["alive": 1])
        #expect(try await pool.xlen(stream) == 2)
        await pool.shutdown()
    }
}

@Suite("Rate limits in Redis")
struct RedisRateLimiterTests {
    @Test(arguments: [
        RateLimitPolicy(name: "user", limit: 5, window: .seconds(60)),
        RateLimitPolicy(name: "user", limit: 30, window: .seconds(3600)),
        RateLimitPolicy(name: "user", limit: 7, window: .seconds(3600)),
    ])
    func decidesLikeTheInProcessLimiter(policy: RateLimitPolicy) async throws {
        // One request's share of the window (12 s and more) is far longer than the test runs:
        // the time between reading TIME and running the script cannot move a decision.
        let pool = try TestRedis.pool()
        let limiter = RedisRateLimiter(client: pool)
        let key = TestRedis.key("gcra")
        var tat: Double?
        for step in 0..<min(policy.limit + 3, 20) {
            let consume = step != 1  // one peek in between must not count
            let time = try await pool.send(RESPCommand("TIME")).array ?? []
            let now = Double(time[0].int ?? 0) + Double(time[1].int ?? 0) / 1e6
            let redis = try await limiter.check(key, policy: policy, consume: consume)
            let (expected, next) = RateLimitDecision.gcra(tat: tat, now: now, policy: policy, consume: consume)
            tat = next
            #expect(redis.allowed == expected.allowed, "step \(step)")
            #expect(redis.remaining == expected.remaining, "step \(step)")
            #expect(abs(redis.retryAfterSeconds - expected.retryAfterSeconds) <= 1, "step \(step)")
        }
        await pool.shutdown()
    }

    @Test func severalLimitsInOneRoundTripDecideLikeTheInProcessLimiter() async throws {
        let pool = try TestRedis.pool()
        let redis = RedisRateLimiter(client: pool)
        let local = InProcessRateLimiter()
        let user = RateLimitPolicy(name: "user", limit: 6, window: .seconds(3600))
        let tenant = RateLimitPolicy(name: "tenant", limit: 3, window: .seconds(3600))
        let failures = RateLimitPolicy(name: "auth-failure", limit: 2, window: .seconds(3600))
        let prefix = TestRedis.key("all")
        func checks(_ prefix: String) -> [RateLimitCheck] {
            [
                RateLimitCheck(key: prefix + "user", policy: user), RateLimitCheck(key: prefix + "tenant", policy: tenant),
                RateLimitCheck(key: prefix + "failures", policy: failures, consume: false),
            ]
        }
        for step in 0..<6 {
            let fromRedis = try await redis.check(all: checks(prefix))
            let expected = try await local.check(all: checks("local:"))
            #expect(fromRedis.map(\.allowed) == expected.map(\.allowed), "step \(step)")
            #expect(fromRedis.map(\.remaining) == expected.map(\.remaining), "step \(step)")
        }
        // Three allowed, then the tenant refuses: the user's quota went down by three only.
        #expect(try await redis.check(prefix + "user", policy: user, consume: false).remaining == 3)
        #expect(try await redis.check(prefix + "failures", policy: failures, consume: false).remaining == 2)
        #expect(try await pool.send(RESPCommand("SCRIPT", "LOAD", .string(RedisRateLimiter.gcraAll.source))).string == RedisRateLimiter.gcraAll.sha1)
        await pool.shutdown()
    }

    @Test func oneLimitHoldsExactlyAcrossReplicas() async throws {
        // Two pools stand for two replicas; 200 concurrent requests against a limit of 30 an hour.
        let replicas = [try TestRedis.pool(), try TestRedis.pool()]
        let limiters = replicas.map { RedisRateLimiter(client: $0, timeout: .seconds(2)) }
        let policy = RateLimitPolicy(name: "user", limit: 30, window: .seconds(3600))
        let key = TestRedis.key("exact")
        let allowed = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<200 {
                let limiter = limiters[index % 2]
                group.addTask { try await limiter.check(key, policy: policy, consume: true).allowed }
            }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(allowed == 30)
        for replica in replicas { await replica.shutdown() }
    }
}
