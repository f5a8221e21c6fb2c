import NIOCore

extension RESPParser {
    /// The next complete value, with the reader index moved past it; `nil` (and the buffer
    /// untouched) while the value is still incomplete.
    public func parse(_ buffer: inout ByteBuffer) throws(RedisClientError) -> RESPValue? {
        let parsed = try buffer.withUnsafeReadableBytes { bytes throws(RedisClientError) in try parse(bytes) }
        guard let (value, length) = parsed else { return nil }
        buffer.moveReaderIndex(forwardBy: length)
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
