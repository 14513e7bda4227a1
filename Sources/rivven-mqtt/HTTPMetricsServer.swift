import FastIngest
import Glibc
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The `metrics.listen` endpoint: a small NIOHTTP1 server bound before the pipeline starts, serving until the
/// service group shuts it down (last, after the pipeline drained).
final class HTTPMetricsServer: Service, Sendable {
    private let channel: any Channel
    /// The address really bound (`host:port`; the port chosen by the kernel when `metrics.listen` asked for 0).
    let boundAddress: String

    private init(channel: any Channel, boundAddress: String) {
        self.channel = channel
        self.boundAddress = boundAddress
    }

    /// Binds `listen` (`host:port` or `[IPv6]:port`, validated by the configuration).
    static func bind(
        listen: String,
        endpoint: HTTPEndpoint,
        group: any EventLoopGroup
    ) async throws(HTTPServerError) -> HTTPMetricsServer {
        let (host, port) = Self.split(listen)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(HTTPRequestHandler(endpoint: endpoint))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch let error as IOError {
            throw HTTPServerError(listen: listen, reason: Self.describe(errno: error.errnoCode))
        } catch {
            throw HTTPServerError(listen: listen, reason: "\(error)")
        }
        let bound = channel.localAddress.map(Self.show) ?? listen
        return HTTPMetricsServer(channel: channel, boundAddress: bound)
    }

    /// Serves until a graceful shutdown (or cancellation) closes the listening socket.
    func run() async throws {
        let channel = self.channel
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }

    private static func split(_ listen: String) -> (host: String, port: Int) {
        guard let colon = listen.lastIndex(of: ":") else { return (listen, 0) }
        var host = listen[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return (String(host), Int(listen[listen.index(after: colon)...]) ?? 0)
    }

    private static func show(_ address: SocketAddress) -> String {
        let ip = address.ipAddress ?? "?"
        let port = address.port ?? 0
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }

    private static func describe(errno code: Int32) -> String {
        let names = [EADDRINUSE: "EADDRINUSE", EADDRNOTAVAIL: "EADDRNOTAVAIL", EACCES: "EACCES"]
        let number = names[code].map { "\($0), errno \(code)" } ?? "errno \(code)"
        return "\(String(cString: strerror(code))) (\(number))"
    }
}

/// `metrics.listen` could not be served.
struct HTTPServerError: Error, CustomStringConvertible {
    var listen: String
    var reason: String

    var description: String {
        """
        cannot listen on metrics.listen \(listen): \(reason); choose a free address (port 0 picks one) or set \
        `metrics.listen: off`
        """
    }
}
