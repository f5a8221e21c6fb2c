/// One reply value of the Redis serialization protocol (RESP2: Parley never sends `HELLO 3`).
/// Both kinds of null (`$-1`, `*-1`) decode as `.null`.
public enum RESPValue: Sendable, Hashable {
    /// `+OK`
    case simpleString(String)
    /// `-ERR …`: a reply, not a thrown error, at this level.
    case error(RedisServerError)
    /// `:42`
    case integer(Int64)
    /// `$5\r\nhello`: binary-safe bytes.
    case bulkString([UInt8])
    /// `*2 …`
    case array([RESPValue])
    /// `$-1`, `*-1`
    case null
}

/// An error reply: `-<CODE> <message>`. The code is the first word (`ERR`, `NOSCRIPT`,
/// `BUSYGROUP`, `NOGROUP`, `WRONGPASS`, `NOAUTH`, `LOADING`, `READONLY` …).
public struct RedisServerError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(message: String) {
        self.message = message
    }

    public var code: String {
        String(message.prefix { $0 != " " })
    }

    public var description: String { "Redis error: \(message)" }
}

extension RESPValue {
    /// The text of a simple or bulk string (bulk strings as UTF-8).
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// An integer reply, or a string holding one (Redis answers some counts as bulk strings,
    /// e.g. XPENDING's per-consumer counts, TIME's fields).
    public var int: Int? {
        switch self {
        case .integer(let value): Int(exactly: value)
        case .simpleString, .bulkString: string.flatMap { Int($0) }
        default: nil
        }
    }

    /// Elements of an array; `nil` for anything else (`.null` included).
    public var array: [RESPValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Fails with the server's error when this is an error reply.
    public func throwingError() throws -> RESPValue {
        if case .error(let error) = self { throw error }
        return self
    }
}

/// Errors of the client itself (the server's own are `RedisServerError`).
public enum RedisClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The connection closed. `requestSent: false` means the command never left this process,
    /// so it is safe to send it again on another connection; `true` means it may have run.
    case connectionClosed(requestSent: Bool)
    /// No reply within the command's timeout; the connection is closed (replies are ordered, a
    /// late one cannot be matched any more).
    case timeout
    /// The server sent something that is not RESP2, or too large or deep to accept; the connection is closed.
    case protocolError(String)
    /// A well-formed reply of an unexpected shape for the typed command.
    case unexpectedReply(command: String, reply: String)
    /// Redis cannot be reached (connect failed or the pool is backing off after a failure).
    case unavailable(String)
    case invalidURL(String)

    public var description: String {
        switch self {
        case .connectionClosed(let sent): "Redis connection closed\(sent ? " (the command may have run)" : "")"
        case .timeout: "Redis did not answer in time"
        case .protocolError(let reason): "Redis protocol error: \(reason)"
        case .unexpectedReply(let command, let reply): "unexpected Redis reply to \(command): \(reply.prefix(200))"
        case .unavailable(let reason): "Redis is unavailable: \(reason)"
        case .invalidURL(let reason): "invalid Redis URL: \(reason)"
        }
    }
}
