import NIOCore

/// One argument of a command: Redis sees every argument as a bulk string.
public enum RESPArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case bytes(ByteBuffer)
    case integer(Int)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }

    /// A Double as Swift prints it: the shortest text that reads back as the same value
    /// ("60.0", "0.001", "1e+16"), which Lua's tonumber and Redis's float parsing accept.
    public static func double(_ value: Double) -> RESPArgument { .string("\(value)") }

    fileprivate func write(to out: inout ByteBuffer) {
        switch self {
        case .string(let text):
            out.writeStaticString("$")
            out.writeString(String(text.utf8.count))  // bytes, not characters
            out.writeStaticString("\r\n")
            out.writeString(text)
        case .bytes(var bytes):
            out.writeStaticString("$")
            out.writeString(String(bytes.readableBytes))
            out.writeStaticString("\r\n")
            out.writeBuffer(&bytes)
        case .integer(let value):
            let text = String(value)
            out.writeStaticString("$")
            out.writeString(String(text.utf8.count))
            out.writeStaticString("\r\n")
            out.writeString(text)
        }
        out.writeStaticString("\r\n")
    }
}

/// A command as sent: `*<n>\r\n` then each word as a bulk string.
public struct RESPCommand: Sendable, Hashable, CustomStringConvertible {
    /// The command's name, with any subcommand as the first argument (`XGROUP`, `CREATE`).
    public var name: String
    public var arguments: [RESPArgument]

    public init(_ name: String, _ arguments: RESPArgument...) {
        self.name = name
        self.arguments = arguments
    }

    public init(_ name: String, arguments: [RESPArgument]) {
        self.name = name
        self.arguments = arguments
    }

    public func encode(into out: inout ByteBuffer) {
        out.writeStaticString("*")
        out.writeString(String(arguments.count + 1))
        out.writeStaticString("\r\n")
        RESPArgument.string(name).write(to: &out)
        for argument in arguments { argument.write(to: &out) }
    }

    /// For logs: the name and argument count only (arguments can hold passwords, tokens and user text).
    public var description: String { "\(name) (\(arguments.count) arguments)" }
}

/// `RESPCommand`s out, bytes in the wire format.
public struct RESPCommandEncoder: MessageToByteEncoder {
    public typealias OutboundIn = RESPCommand

    public init() {}

    public func encode(data: RESPCommand, out: inout ByteBuffer) throws {
        data.encode(into: &out)
    }
}
