// HTTPTimeouts: a channel handler that closes connections which take too long, so that slow or
// idle clients cannot hold the daemon's sockets: a request's head must arrive within
// `headerTimeout` of the connection opening, a body may pause at most `bodyTimeout` between
// chunks, and a keep-alive connection may sit idle `idleTimeout` after a response. It sits after
// Hummingbird's HTTP decoding and sees request and response parts.

import NIOCore
import NIOHTTPTypes

/// The timeouts (see the file comment).
final class HTTPTimeoutsHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let headerTimeout: TimeAmount, bodyTimeout: TimeAmount, idleTimeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var respondingTo = 0

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(headerTimeout, context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(headerTimeout, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head, .body: arm(bodyTimeout, context: context)
        case .end:
            respondingTo += 1
            disarm()  // the daemon is working on it; its own limits apply
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            respondingTo = max(0, respondingTo - 1)
            if respondingTo == 0 { arm(idleTimeout, context: context) }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ delay: TimeAmount, context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: delay) { channel.close(promise: nil) }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}
