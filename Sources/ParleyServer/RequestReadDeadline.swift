import NIOCore
import NIOHTTPTypes

/// A whole request, head and body, must arrive within `http.requestReadTimeoutSeconds` of its
/// first byte, or the connection is closed. The idle timeout alone lets a client that trickles a
/// byte just inside it hold a connection for ever (slowloris); this bounds a request however its
/// bytes are paced. The time Parley spends answering (a slow model, a long stream) does not count:
/// the clock stops at the request's end and starts again with the next request's first byte.
///
/// Two handlers share the clock: this one, after the HTTP decoder, sees where a request ends; its
/// companion, first in the pipeline, sees bytes arrive (only bytes tell that the next one began).
final class RequestReadDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Added while the pipeline is set up, on the channel's event loop.
        try? context.pipeline.syncOperations.addHandler(ArrivalWatcher(clock: self), position: .first)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { stop() }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    /// Bytes came in: unless a request is already being read, one starts now.
    fileprivate func bytesArrived(_ context: ChannelHandlerContext) {
        guard deadline == nil else { return }
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }

    private func stop() {
        deadline?.cancel()
        deadline = nil
    }
}

/// Tells the clock when bytes arrive, before the HTTP decoder has made anything of them.
private final class ArrivalWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let clock: RequestReadDeadline

    init(clock: RequestReadDeadline) {
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        clock.bytesArrived(context)
        context.fireChannelRead(data)
    }
}
