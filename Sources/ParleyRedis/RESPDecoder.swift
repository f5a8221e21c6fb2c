import NIOCore

/// Parses RESP2 values out of a byte buffer.
///
/// It parses a value from its first byte until the value is complete (replies here are small:
/// a limiter answer, a batch of audit events); nothing is consumed until a whole value is there.
/// Limits bound what a broken or hostile peer can make this process hold.
public struct RESPParser: Sendable {
    public struct Limits: Sendable, Hashable {
        /// Longest bulk string accepted (Redis's own maximum is 512 MiB).
        public var maxBulkLength: Int = 64 << 20
        /// Most elements in one array.
        public var maxArrayCount: Int = 1 << 20
        /// Deepest nesting (replies Parley asks for nest at most 4 deep: XREADGROUP).
        public var maxDepth: Int = 32
        /// Longest header or simple-string line.
        public var maxLineLength: Int = 64 << 10

        public init() {}
    }

    public let limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// The next complete value, with the reader index moved past it; `nil` (and the buffer
    /// untouched) while the value is still incomplete.
    public func parse(_ buffer: inout ByteBuffer) throws -> RESPValue? {
        var scratch = buffer  // reading a copy moves only the copy's index; no bytes are copied
        guard let value = try parseValue(&scratch, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: scratch.readerIndex)
        return value
    }

    private func parseValue(_ buffer: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        guard depth <= limits.maxDepth else { throw RedisClientError.protocolError("nesting deeper than \(limits.maxDepth)") }
        guard let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        guard let line = try readLine(&buffer) else { return nil }

        switch type {
        case UInt8(ascii: "+"):
            return .simpleString(String(buffer: line))
        case UInt8(ascii: "-"):
            return .error(RedisServerError(message: String(buffer: line)))
        case UInt8(ascii: ":"):
            return .integer(try Self.integer(line))
        case UInt8(ascii: "$"):
            let length = try Self.integer(line)
            if length == -1 { return .null }
            guard length >= 0, length <= Int64(limits.maxBulkLength) else {
                throw RedisClientError.protocolError("bulk length \(length) out of range")
            }
            guard buffer.readableBytes >= Int(length) + 2 else { return nil }
            let body = buffer.readSlice(length: Int(length))!
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {  // "\r\n", read big-endian
                throw RedisClientError.protocolError("bulk string not ended by CRLF")
            }
            return .bulkString(body)
        case UInt8(ascii: "*"):
            let count = try Self.integer(line)
            if count == -1 { return .null }
            guard count >= 0, count <= limits.maxArrayCount else {
                throw RedisClientError.protocolError("array of \(count) elements out of range")
            }
            var values: [RESPValue] = []
            values.reserveCapacity(min(Int(count), 1024))
            for _ in 0..<count {
                guard let value = try parseValue(&buffer, depth: depth + 1) else { return nil }
                values.append(value)
            }
            return .array(values)
        default:
            // RESP3 types never come unasked; anything else is not Redis.
            throw RedisClientError.protocolError("unexpected type byte \(type)")
        }
    }

    /// The header line after the type byte, with the reader index moved past its CRLF;
    /// `nil` (index untouched) while the line is incomplete.
    private func readLine(_ buffer: inout ByteBuffer) throws -> ByteBuffer? {
        let view = buffer.readableBytesView  // indices are absolute: startIndex == readerIndex
        let lineStart = view.startIndex + 1
        guard let cr = view[lineStart...].firstIndex(of: UInt8(ascii: "\r")) else {
            if view.count > limits.maxLineLength { throw RedisClientError.protocolError("line longer than \(limits.maxLineLength)") }
            return nil
        }
        guard cr - lineStart <= limits.maxLineLength else { throw RedisClientError.protocolError("line too long") }
        guard cr + 1 < view.endIndex else { return nil }
        guard view[cr + 1] == UInt8(ascii: "\n") else { throw RedisClientError.protocolError("CR without LF") }
        let line = buffer.getSlice(at: lineStart, length: cr - lineStart)!
        buffer.moveReaderIndex(to: cr + 2)
        return line
    }

    private static func integer(_ line: ByteBuffer) throws -> Int64 {
        guard let value = Int64(String(buffer: line)) else {
            throw RedisClientError.protocolError("not an integer: \(String(buffer: line).prefix(40))")
        }
        return value
    }
}

/// Bytes in, `RESPValue`s out: one per complete reply.
public struct RESPValueDecoder: ByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    private let parser: RESPParser

    public init(limits: RESPParser.Limits = RESPParser.Limits()) {
        self.parser = RESPParser(limits: limits)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let value = try parser.parse(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(value))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A partial reply at EOF is dropped: the request handler fails what is still pending.
        return .needMoreData
    }
}
