/// Parses RESP2 values out of bytes. Plain Swift on raw bytes (no NIO), so the same code that
/// reads Redis's replies is what the fuzzer runs (`Fuzz/RESPParser`).
///
/// It parses a value from its first byte until the value is complete (replies here are small:
/// a limiter answer, a batch of audit events); a value cut short by the end of the bytes is
/// "not yet", never an error, however the reads were split. Limits bound what a broken or
/// hostile peer can make this process hold.
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

    /// The first complete value in `bytes` and how many bytes it took; `nil` while it is incomplete.
    public func parse(_ bytes: UnsafeRawBufferPointer) throws(RedisClientError) -> (value: RESPValue, length: Int)? {
        var cursor = 0
        guard let value = try parseValue(bytes, &cursor, depth: 0) else { return nil }
        return (value, cursor)
    }

    private func parseValue(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int, depth: Int) throws(RedisClientError) -> RESPValue? {
        guard depth <= limits.maxDepth else { throw .protocolError("nesting deeper than \(limits.maxDepth)") }
        guard cursor < bytes.count else { return nil }
        let type = bytes[cursor]
        guard let line = try readLine(bytes, &cursor) else { return nil }

        switch type {
        case UInt8(ascii: "+"):
            return .simpleString(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: "-"):
            return .error(RedisServerError(message: String(decoding: line, as: UTF8.self)))
        case UInt8(ascii: ":"):
            return .integer(try Self.integer(line))
        case UInt8(ascii: "$"):
            let length = try Self.integer(line)
            if length == -1 { return .null }
            guard length >= 0, length <= Int64(limits.maxBulkLength) else {
                throw .protocolError("bulk length \(length) out of range")
            }
            let count = Int(length)
            guard bytes.count - cursor >= count + 2 else { return nil }
            let body = Array(bytes[cursor..<cursor + count])
            guard bytes[cursor + count] == UInt8(ascii: "\r"), bytes[cursor + count + 1] == UInt8(ascii: "\n") else {
                throw .protocolError("bulk string not ended by CRLF")
            }
            cursor += count + 2
            return .bulkString(body)
        case UInt8(ascii: "*"):
            let count = try Self.integer(line)
            if count == -1 { return .null }
            guard count >= 0, count <= limits.maxArrayCount else {
                throw .protocolError("array of \(count) elements out of range")
            }
            var values: [RESPValue] = []
            values.reserveCapacity(min(Int(count), 1024))
            for _ in 0..<count {
                guard let value = try parseValue(bytes, &cursor, depth: depth + 1) else { return nil }
                values.append(value)
            }
            return .array(values)
        default:
            // RESP3 types never come unasked; anything else is not Redis.
            throw .protocolError("unexpected type byte \(type)")
        }
    }

    /// The header line after the type byte at `cursor`, with the cursor moved past its CRLF;
    /// `nil` (cursor untouched) while the line is incomplete.
    private func readLine(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int) throws(RedisClientError) -> UnsafeRawBufferPointer.SubSequence? {
        let lineStart = cursor + 1
        guard let cr = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\r")) else {
            if bytes.count - lineStart > limits.maxLineLength { throw .protocolError("line longer than \(limits.maxLineLength)") }
            return nil
        }
        guard cr - lineStart <= limits.maxLineLength else { throw .protocolError("line longer than \(limits.maxLineLength)") }
        guard cr + 1 < bytes.count else { return nil }
        guard bytes[cr + 1] == UInt8(ascii: "\n") else { throw .protocolError("CR without LF") }
        cursor = cr + 2
        return bytes[lineStart..<cr]
    }

    private static func integer(_ line: UnsafeRawBufferPointer.SubSequence) throws(RedisClientError) -> Int64 {
        let text = String(decoding: line, as: UTF8.self)
        guard let value = Int64(text) else { throw .protocolError("not an integer: \(text.prefix(40))") }
        return value
    }
}
