import Foundation

/// Where Redis is and how to talk to it: `redis://[user[:password]@]host[:port][/db]`.
///
/// `redis://:secret@host` authenticates the default user with a password (`AUTH secret`);
/// `redis://parley:secret@host/2` sends `AUTH parley secret` then `SELECT 2`. Percent-encoded
/// characters in the user and password are decoded. `rediss://` (TLS) is refused for now.
public struct RedisConfiguration: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int = 6379
    public var username: String?
    public var password: String?
    public var database: Int = 0
    /// Connecting (TCP, then AUTH and SELECT).
    public var connectTimeout: Duration = .seconds(2)
    /// Waiting for one reply; blocking commands add their own block time on top.
    public var commandTimeout: Duration = .seconds(2)
    /// Shared (pipelined) connections in the pool.
    public var poolSize: Int = 2
    /// After a failed connect, requests on that slot fail at once for this long instead of each
    /// waiting for its own connect timeout (Redis down must not stall every request).
    public var reconnectBackoff: Duration = .milliseconds(500)
    /// Sent as `CLIENT SETNAME` so `CLIENT LIST` shows which replica holds a connection.
    public var clientName: String?

    public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    public init(url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw RedisClientError.invalidURL("not a URL")
        }
        switch scheme {
        case "redis": break
        case "rediss": throw RedisClientError.invalidURL("rediss:// (TLS) is not supported yet")
        default: throw RedisClientError.invalidURL("the scheme must be redis://")
        }
        guard let host = components.host, !host.isEmpty else { throw RedisClientError.invalidURL("no host") }
        self.init(host: host, port: components.port ?? 6379)
        guard (1...65535).contains(port) else { throw RedisClientError.invalidURL("port out of range") }
        // `user`/`password` are percent-decoded; an empty user (`redis://:pw@h`) means the default user.
        if let user = components.user, !user.isEmpty { username = user }
        password = components.password
        if username != nil, password == nil { throw RedisClientError.invalidURL("a user needs a password") }
        let path = components.path
        if !path.isEmpty, path != "/" {
            guard let index = Int(path.dropFirst()), path.hasPrefix("/"), (0...1_000).contains(index) else {
                throw RedisClientError.invalidURL("the path must be a database index, like /0")
            }
            database = index
        }
    }

    /// Never shows the password.
    public var description: String {
        let credentials = password == nil ? "" : "\(username ?? ""):***@"
        return "redis://\(credentials)\(host):\(port)/\(database)"
    }
}
