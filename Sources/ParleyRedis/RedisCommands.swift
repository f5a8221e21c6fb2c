import Crypto
import Foundation
import NIOCore

/// An entry of a stream. `fields` is `nil` for an entry that was deleted while pending (XREADGROUP
/// with an explicit ID and XCLAIM report those as `[id, nil]`).
public struct RedisStreamEntry: Sendable, Hashable {
    public var id: String
    public var fields: [String: String]?

    public init(id: String, fields: [String: String]?) {
        self.id = id
        self.fields = fields
    }
}

/// One line of `XPENDING key group [IDLE ms] start end count [consumer]`.
public struct RedisPendingEntry: Sendable, Hashable {
    public var id: String
    public var consumer: String
    /// Milliseconds since it was last delivered.
    public var idleMilliseconds: Int
    /// How often it was delivered (XREADGROUP and each claim count).
    public var deliveries: Int
}

/// `XPENDING key group` (the summary form).
public struct RedisPendingSummary: Sendable, Hashable {
    public var count: Int
    public var smallestID: String?
    public var largestID: String?
    public var perConsumer: [String: Int]
}

/// `XAUTOCLAIM`'s reply (Redis ≥ 7: three elements).
public struct RedisAutoClaim: Sendable, Hashable {
    /// Where the next scan starts; `0-0` when the whole pending list was scanned.
    public var next: String
    public var entries: [RedisStreamEntry]
    /// IDs that were pending but no longer exist in the stream (Redis drops them from the PEL).
    public var deleted: [String]
}

/// A Lua script, sent by its SHA-1 and loaded on first use.
public struct RedisScript: Sendable, Hashable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        let digest = Insecure.SHA1.hash(data: Array(source.utf8))
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in digest {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0F)])
        }
        self.sha1 = String(decoding: text, as: UTF8.self)
    }
}

extension RedisClient {
    // MARK: Strings and keys

    public func ping(timeout: Duration? = nil) async throws {
        let reply = try await send(RESPCommand("PING"), timeout: timeout)
        guard reply.string == "PONG" else { throw unexpected("PING", reply) }
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        switch try await send(RESPCommand("GET", .string(key))) {
        case .null: return nil
        case .bulkString(let bytes): return bytes
        case let reply: throw unexpected("GET", reply)
        }
    }

    /// `SET key value [EX seconds]`; `expiresIn` is rounded up to whole seconds (at least 1).
    public func set(_ key: String, to value: RESPArgument, expiresIn: Duration? = nil) async throws {
        var arguments: [RESPArgument] = [.string(key), value]
        if let expiresIn {
            let whole = Int(expiresIn.components.seconds) + (expiresIn.components.attoseconds > 0 ? 1 : 0)
            arguments += ["EX", .integer(max(1, whole))]
        }
        let reply = try await send(RESPCommand("SET", arguments: arguments))
        guard reply.string == "OK" else { throw unexpected("SET", reply) }
    }

    /// Returns how many keys existed.
    @discardableResult
    public func del(_ keys: [String]) async throws -> Int {
        guard !keys.isEmpty else { return 0 }
        let reply = try await send(RESPCommand("DEL", arguments: keys.map(RESPArgument.string)))
        guard let count = reply.int else { throw unexpected("DEL", reply) }
        return count
    }

    // MARK: Scripts

    /// `EVALSHA`, falling back to `EVAL` (which also caches the script) when Redis does not know
    /// it yet: after a restart, a `SCRIPT FLUSH`, or on a replica promoted since.
    public func run(_ script: RedisScript, keys: [String], arguments: [RESPArgument], timeout: Duration? = nil) async throws -> RESPValue {
        let tail: [RESPArgument] = [.integer(keys.count)] + keys.map(RESPArgument.string) + arguments
        do {
            return try await send(RESPCommand("EVALSHA", arguments: [.string(script.sha1)] + tail), timeout: timeout)
        } catch let error as RedisServerError where error.code == "NOSCRIPT" {
            return try await send(RESPCommand("EVAL", arguments: [.string(script.source)] + tail), timeout: timeout)
        }
    }

    // MARK: Streams

    /// `XADD stream [MAXLEN ~ n] * field value …`; returns the entry's ID.
    ///
    /// Think twice before `approximateMaxLength` on a queue: trimming drops the oldest entries
    /// whether or not a consumer group has read them.
    public func xadd(_ stream: String, fields: [(String, String)], approximateMaxLength: Int? = nil) async throws -> String {
        var arguments: [RESPArgument] = [.string(stream)]
        if let approximateMaxLength { arguments += ["MAXLEN", "~", .integer(approximateMaxLength)] }
        arguments.append("*")
        for (name, value) in fields { arguments += [.string(name), .string(value)] }
        let reply = try await send(RESPCommand("XADD", arguments: arguments))
        guard let id = reply.string else { throw unexpected("XADD", reply) }
        return id
    }

    /// `XGROUP CREATE stream group id MKSTREAM`; `false` when the group exists already (BUSYGROUP).
    @discardableResult
    public func xgroupCreate(_ stream: String, group: String, startID: String = "0") async throws -> Bool {
        do {
            let reply = try await send(RESPCommand("XGROUP", "CREATE", .string(stream), .string(group), .string(startID), "MKSTREAM"))
            guard reply.string == "OK" else { throw unexpected("XGROUP CREATE", reply) }
            return true
        } catch let error as RedisServerError where error.code == "BUSYGROUP" {
            return false
        }
    }

    /// `XREADGROUP GROUP g c [COUNT n] [BLOCK ms] STREAMS stream id`. `id` is `>` for new entries,
    /// or `0` for this consumer's own pending ones. Empty when the block time passed with nothing.
    /// With `block`, call it on a dedicated connection only.
    public func xreadgroup(
        _ stream: String, group: String, consumer: String, id: String = ">", count: Int, block: Duration? = nil
    ) async throws -> [RedisStreamEntry] {
        var arguments: [RESPArgument] = ["GROUP", .string(group), .string(consumer), "COUNT", .integer(count)]
        var timeout: Duration?
        if let block {
            arguments += ["BLOCK", .integer(max(1, block.redisMilliseconds))]
            // The reply may take the whole block time: wait for it on top of the usual timeout.
            timeout = block + .seconds(2)
        }
        arguments += ["STREAMS", .string(stream), .string(id)]
        let reply = try await send(RESPCommand("XREADGROUP", arguments: arguments), timeout: timeout)
        if reply.isNull { return [] }  // BLOCK timed out
        // [[stream, [[id, [f, v, …]], …]]]
        guard let streams = reply.array else { throw unexpected("XREADGROUP", reply) }
        var entries: [RedisStreamEntry] = []
        for item in streams {
            guard let pair = item.array, pair.count == 2, let list = pair[1].array else { throw unexpected("XREADGROUP", reply) }
            entries += try list.map { try Self.entry($0, command: "XREADGROUP") }
        }
        return entries
    }

    /// Returns how many of `ids` were pending and are acknowledged now.
    @discardableResult
    public func xack(_ stream: String, group: String, ids: [String]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let reply = try await send(RESPCommand("XACK", arguments: [.string(stream), .string(group)] + ids.map(RESPArgument.string)))
        guard let count = reply.int else { throw unexpected("XACK", reply) }
        return count
    }

    /// `XDEL stream id …`: returns how many were deleted.
    @discardableResult
    public func xdel(_ stream: String, ids: [String]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let reply = try await send(RESPCommand("XDEL", arguments: [.string(stream)] + ids.map(RESPArgument.string)))
        guard let count = reply.int else { throw unexpected("XDEL", reply) }
        return count
    }

    /// `XAUTOCLAIM stream group consumer min-idle start COUNT n`: takes over entries another
    /// consumer (e.g. a killed worker) has held for at least `minIdle`. Each claim counts as a delivery.
    public func xautoclaim(
        _ stream: String, group: String, consumer: String, minIdle: Duration, start: String = "0-0", count: Int
    ) async throws -> RedisAutoClaim {
        let reply = try await send(
            RESPCommand(
                "XAUTOCLAIM", .string(stream), .string(group), .string(consumer), .integer(minIdle.redisMilliseconds),
                .string(start), "COUNT",
                .integer(count)))
        guard let parts = reply.array, parts.count >= 2, let next = parts[0].string, let list = parts[1].array else {
            throw unexpected("XAUTOCLAIM", reply)
        }
        let deleted = parts.count > 2 ? (parts[2].array ?? []).compactMap(\.string) : []
        return RedisAutoClaim(
            next: next, entries: try list.map { try Self.entry($0, command: "XAUTOCLAIM") }, deleted: deleted)
    }

    /// `XPENDING stream group`.
    public func xpendingSummary(_ stream: String, group: String) async throws -> RedisPendingSummary {
        let reply = try await send(RESPCommand("XPENDING", .string(stream), .string(group)))
        // [count, smallest | nil, largest | nil, [[consumer, "count"], …] | nil]
        guard let parts = reply.array, parts.count == 4, let count = parts[0].int else { throw unexpected("XPENDING", reply) }
        var perConsumer: [String: Int] = [:]
        for item in parts[3].array ?? [] {
            guard let pair = item.array, pair.count == 2, let name = pair[0].string, let n = pair[1].int else {
                throw unexpected("XPENDING", reply)
            }
            perConsumer[name] = n
        }
        return RedisPendingSummary(count: count, smallestID: parts[1].string, largestID: parts[2].string, perConsumer: perConsumer)
    }

    /// `XPENDING stream group [IDLE ms] start end count [consumer]`: the pending entries with their
    /// delivery counts (what decides that an entry goes to the dead-letter stream).
    public func xpending(
        _ stream: String, group: String, minIdle: Duration? = nil, start: String = "-", end: String = "+", count: Int,
        consumer: String? = nil
    ) async throws -> [RedisPendingEntry] {
        var arguments: [RESPArgument] = [.string(stream), .string(group)]
        if let minIdle {
            arguments += ["IDLE", .integer(minIdle.redisMilliseconds)]
        }
        arguments += [.string(start), .string(end), .integer(count)]
        if let consumer { arguments.append(.string(consumer)) }
        let reply = try await send(RESPCommand("XPENDING", arguments: arguments))
        guard let list = reply.array else { throw unexpected("XPENDING", reply) }
        return try list.map { item in
            guard let fields = item.array, fields.count == 4, let id = fields[0].string, let consumer = fields[1].string,
                let idle = fields[2].int, let deliveries = fields[3].int
            else { throw unexpected("XPENDING", reply) }
            return RedisPendingEntry(id: id, consumer: consumer, idleMilliseconds: idle, deliveries: deliveries)
        }
    }

    /// `XRANGE stream start end COUNT n` (the dead-letter listing).
    public func xrange(_ stream: String, start: String = "-", end: String = "+", count: Int) async throws -> [RedisStreamEntry] {
        let reply = try await send(RESPCommand("XRANGE", .string(stream), .string(start), .string(end), "COUNT", .integer(count)))
        guard let list = reply.array else { throw unexpected("XRANGE", reply) }
        return try list.map { try Self.entry($0, command: "XRANGE") }
    }

    /// `XLEN stream` (queue depth for metrics).
    public func xlen(_ stream: String) async throws -> Int {
        let reply = try await send(RESPCommand("XLEN", .string(stream)))
        guard let count = reply.int else { throw unexpected("XLEN", reply) }
        return count
    }

    // MARK: Reply shapes

    private static func entry(_ value: RESPValue, command: String) throws -> RedisStreamEntry {
        guard let pair = value.array, pair.count == 2, let id = pair[0].string else {
            throw RedisClientError.unexpectedReply(command: command, reply: "\(value)")
        }
        if pair[1].isNull { return RedisStreamEntry(id: id, fields: nil) }
        guard let flat = pair[1].array, flat.count % 2 == 0 else {
            throw RedisClientError.unexpectedReply(command: command, reply: "\(value)")
        }
        var fields: [String: String] = [:]
        for index in stride(from: 0, to: flat.count, by: 2) {
            guard let name = flat[index].string, let text = flat[index + 1].string else {
                throw RedisClientError.unexpectedReply(command: command, reply: "\(value)")
            }
            fields[name] = text
        }
        return RedisStreamEntry(id: id, fields: fields)
    }

    private func unexpected(_ command: String, _ reply: RESPValue) -> RedisClientError {
        .unexpectedReply(command: command, reply: "\(reply)")
    }
}

extension Duration {
    /// Whole milliseconds (rounded down), as Redis's BLOCK, IDLE and min-idle arguments take them.
    var redisMilliseconds: Int {
        Int(components.seconds) * 1000 + Int(components.attoseconds / 1_000_000_000_000_000)
    }
}
