import NIOCore
import NIOHTTP1

/// Answers each HTTP/1.1 request of one connection from ``HTTPEndpoint`` (request bodies are ignored). The
/// connection stays open when the client asks for keep-alive, as Prometheus does.
final class HTTPRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoint: HTTPEndpoint
    private var request: HTTPRequestHead?

    init(endpoint: HTTPEndpoint) {
        self.endpoint = endpoint
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let reply = endpoint.reply(method: head.method, uri: head.uri)
        var body = context.channel.allocator.buffer(capacity: reply.body.utf8.count)
        body.writeString(reply.body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: reply.contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        if let allow = reply.allow { headers.add(name: "Allow", value: allow) }
        let keepAlive = head.isKeepAlive
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let response = HTTPResponseHead(version: head.version, status: reply.status, headers: headers)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset or broken connection: nothing to answer.
        context.close(promise: nil)
    }
}
