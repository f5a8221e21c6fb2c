import Foundation
import ParleyCore

/// A message as one element of a cached context list: a short header, then the variable parts as
/// raw bytes, so a chat turn reads twenty messages without a JSON parser:
///
///     <id>|<conversation>|<role>|<created, seconds since 2001 as Swift prints a Double>|<model bytes or ->|<content bytes>|<tool calls bytes>|<model><content><tool calls JSON>
///
/// The id comes first so that the append script can read the newest cached id. Tool calls (rare
/// in a context) stay JSON.
enum CachedMessageCodec {
    static func encode(_ message: Message) -> [UInt8] {
        let model = message.model.map { Array($0.utf8) }
        let content = Array(message.content.utf8)
        let toolCalls = message.toolCalls.isEmpty ? [] : ((try? RedisJSON.encoder.encode(message.toolCalls)).map { [UInt8]($0) } ?? [])
        let header =
            "\(message.id)|\(message.conversationID)|\(message.role.rawValue)|\(message.createdAt.timeIntervalSinceReferenceDate)|"
            + "\(model.map { String($0.count) } ?? "-")|\(content.count)|\(toolCalls.count)|"
        var bytes = Array(header.utf8)
        bytes.reserveCapacity(bytes.count + (model?.count ?? 0) + content.count + toolCalls.count)
        if let model { bytes += model }
        bytes += content
        bytes += toolCalls
        return bytes
    }

    /// `nil` for anything that is not such an element: the caller then reads the store.
    static func decode(_ bytes: [UInt8]) -> Message? {
        bytes.withUnsafeBufferPointer { buffer -> Message? in
            var position = 0
            func field() -> Substring? {
                guard let end = buffer[position...].firstIndex(of: UInt8(ascii: "|")) else { return nil }
                defer { position = end + 1 }
                return Substring(decoding: UnsafeBufferPointer(rebasing: buffer[position..<end]), as: UTF8.self)
            }
            guard let id = field().flatMap({ Int($0) }), let conversation = field().flatMap({ Int($0) }),
                let role = field().flatMap({ MessageRole(rawValue: String($0)) }),
                let created = field().flatMap({ Double($0) }), let modelField = field(),
                let contentCount = field().flatMap({ Int($0) }), let toolCallsCount = field().flatMap({ Int($0) })
            else { return nil }
            let modelCount = modelField == "-" ? nil : Int(modelField)
            if modelField != "-", modelCount == nil { return nil }
            guard (modelCount ?? 0) >= 0, contentCount >= 0, toolCallsCount >= 0,
                buffer.count - position == (modelCount ?? 0) + contentCount + toolCallsCount
            else { return nil }
            func take(_ count: Int) -> UnsafeBufferPointer<UInt8> {
                defer { position += count }
                return UnsafeBufferPointer(rebasing: buffer[position..<position + count])
            }
            let model = modelCount.map { String(decoding: take($0), as: UTF8.self) }
            let content = String(decoding: take(contentCount), as: UTF8.self)
            var toolCalls: [ToolCallRecord] = []
            if toolCallsCount > 0 {
                guard let decoded = try? RedisJSON.decoder.decode([ToolCallRecord].self, from: Data(take(toolCallsCount))) else { return nil }
                toolCalls = decoded
            }
            return Message(
                id: id, conversationID: conversation, role: role, content: content, toolCalls: toolCalls, model: model,
                createdAt: Date(timeIntervalSinceReferenceDate: created))
        }
    }
}
