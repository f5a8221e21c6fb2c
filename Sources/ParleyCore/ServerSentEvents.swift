import Foundation

/// Reads a Server-Sent Events stream (the WHATWG rules, as far as model providers and MCP servers
/// use them): lines end in LF, CRLF or CR; the `data:` lines of one event are joined with LF (one
/// leading space of each value dropped); a blank line ends the event; comments and the `event`,
/// `id` and `retry` fields carry nothing Parley uses and are skipped, and so are events without
/// data (the priming events of the MCP SDK's stateful transport: `id: …`, `data: `, blank line).
///
/// It works on bytes, so a character or a CRLF split across two network reads stays whole, and
/// the same bytes give the same events however they are split. It holds at most `maxEventBytes`
/// of an unfinished event: a peer that never ends a line or an event cannot grow it further.
public struct ServerSentEventParser: Sendable {
    public struct EventTooLarge: Error, Sendable, CustomStringConvertible {
        public let limit: Int
        public var description: String { "a server-sent event longer than \(limit) bytes" }
    }

    public let maxEventBytes: Int
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var lastWasCR = false

    public init(maxEventBytes: Int) {
        self.maxEventBytes = maxEventBytes
    }

    /// Bytes of the unfinished event held now (never more than `maxEventBytes`).
    public var bufferedBytes: Int { line.count + data.count }

    /// Feeds bytes; returns the data of every event completed by them.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(EventTooLarge) -> [Data] {
        var events: [Data] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n") where lastWasCR:
                lastWasCR = false  // the LF of a CRLF
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                lastWasCR = byte == UInt8(ascii: "\r")
                if let event = try endLine() { events.append(event) }
            default:
                lastWasCR = false
                line.append(byte)
                guard bufferedBytes <= maxEventBytes else { throw EventTooLarge(limit: maxEventBytes) }
            }
        }
        return events
    }

    /// What is left when the stream ends: an event whose last line or blank line never came.
    public mutating func finish() -> [Data] {
        var events: [Data] = []
        if !line.isEmpty, let event = try? endLine() { events.append(event) }
        if let event = try? endLine() { events.append(event) }
        return events
    }

    private mutating func endLine() throws(EventTooLarge) -> Data? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            // A blank line dispatches the event.
            defer {
                data.removeAll(keepingCapacity: true)
                hasData = false
            }
            guard hasData, !data.isEmpty else { return nil }
            return Data(data)
        }
        if line.first == UInt8(ascii: ":") { return nil }  // a comment
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        guard line[..<colon].elementsEqual("data".utf8) else { return nil }
        var valueStart = colon < line.endIndex ? colon + 1 : colon
        if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        if hasData { data.append(UInt8(ascii: "\n")) }
        data.append(contentsOf: line[valueStart...])
        hasData = true
        // Empty `data:` lines add a separator each: counted too, so they cannot pile up either.
        guard data.count <= maxEventBytes else { throw EventTooLarge(limit: maxEventBytes) }
        return nil
    }
}
