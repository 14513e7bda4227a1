import Glibc
import Synchronization

/// One accepted client connection: its socket, served by one thread running ``run()``.
///
/// The loop mirrors rivvend's (WIRE.md §1): read one frame, handle it completely, write exactly one reply, then the
/// next frame, so replies come back in request order even when requests are pipelined. Only this thread closes the
/// socket; other threads may only `shutdown` it (``interrupt()``), so a descriptor number is never reused under them.
final class RivvenServerConnection: Sendable {
    let id: Int
    let fd: Int32
    private let broker: RivvenBroker
    private let faults: RivvenServerFaults
    private let maxRequestSize: Int
    private let idleTimeout: Duration
    private let tls: RivvenTestServer.TLS?
    private let isStopping: @Sendable () -> Bool
    /// Set by ``interrupt()``: nothing more is handled, not even frames already received.
    private let interrupted = Atomic<Bool>(false)

    init(
        id: Int,
        fd: Int32,
        broker: RivvenBroker,
        faults: RivvenServerFaults,
        configuration: RivvenTestServer.Configuration,
        isStopping: @escaping @Sendable () -> Bool
    ) {
        self.id = id
        self.fd = fd
        self.broker = broker
        self.faults = faults
        self.maxRequestSize = configuration.maxRequestSize
        self.idleTimeout = configuration.idleTimeout
        self.tls = configuration.tls
        self.isStopping = isStopping
    }

    /// Makes a blocked `recv`/`send` of ``run()`` return (the thread then closes the socket) and stops it from
    /// handling anything more.
    func interrupt() {
        interrupted.store(true, ordering: .sequentiallyConsistent)
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }

    private func mustEnd() -> Bool {
        isStopping() || interrupted.load(ordering: .sequentiallyConsistent)
    }

    /// How the loop leaves a connection.
    private enum Ending {
        /// Close at once (a fault, the peer left, the server stops).
        case abrupt
        /// Let a last reply reach the peer before closing.
        case graceful
    }

    /// Serves the connection until it ends and says how to close it.
    private func serve(_ transport: RivvenServerTransport) -> Ending {
        var decoder = RivvenFrameDecoder(maxFrameLength: maxRequestSize)
        var auth: RivvenBroker.ConnectionAuth = broker.requireAuth ? .unauthenticated : .anonymous
        var readBuffer = [UInt8](repeating: 0, count: 65_536)
        var replyBuffer: [UInt8] = []
        var deadline = ContinuousClock.now + idleTimeout
        while true {
            // Handle every complete frame already received, in order.
            while true {
                if waitWhilePaused() { deadline = ContinuousClock.now + idleTimeout }
                if mustEnd() { return .abrupt }
                let frame: RivvenFrame?
                do {
                    frame = try decoder.next()
                } catch {
                    broker.updateStatistics { $0.malformedFrames += 1 }
                    if let ending = reject(RivvenFrameRejection.forStream(error), into: &replyBuffer, transport) {
                        return ending
                    }
                    deadline = ContinuousClock.now + idleTimeout
                    continue
                }
                guard let frame else { break }
                if let ending = handle(frame, auth: &auth, replyBuffer: &replyBuffer, transport) { return ending }
                deadline = ContinuousClock.now + idleTimeout
            }
            // Wait for more bytes, the idle deadline, a pause or the server stopping.
            while true {
                if mustEnd() { return .abrupt }
                if faults.isPaused {
                    _ = waitWhilePaused()
                    deadline = ContinuousClock.now + idleTimeout
                    continue
                }
                let now = ContinuousClock.now
                if now >= deadline {
                    broker.updateStatistics { $0.idleTimeouts += 1 }
                    return .abrupt
                }
                let remaining = deadline - now
                let step = remaining < .milliseconds(50) ? remaining : .milliseconds(50)
                let milliseconds = Int32(
                    clamping: step.wholeMilliseconds + 1
                )
                if transport.waitReadable(milliseconds: milliseconds) { break }
            }
            switch transport.receive(into: &readBuffer) {
            case .bytes(let count):
                readBuffer.withUnsafeBytes { decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            case .nothing:
                continue
            case .ended:
                return .abrupt
            }
        }
    }

    /// Runs the connection to its end and closes the socket; `unregister` runs before the close.
    func run(unregister: () -> Void) {
        RivvenServerSocket.setSendTimeout(fd, milliseconds: 30_000)
        let ending = tls.map(serveTLS) ?? serve(.plain(fd))
        unregister()
        switch ending {
        case .abrupt: close(fd)
        case .graceful: RivvenServerSocket.closeGracefully(fd, lingerMilliseconds: 500)
        }
    }

    /// Completes the TLS handshake (within the idle timeout), serves the connection over TLS and says how to close the
    /// socket. The TLS state is gone when this returns, so only the socket is left to close. A failed handshake ends
    /// gracefully: the client gets to read the TLS alert rather than a reset.
    private func serveTLS(_ tls: RivvenTestServer.TLS) -> Ending {
        // A paused server reads nothing, not even a ClientHello.
        _ = waitWhilePaused()
        if mustEnd() { return .abrupt }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let stream: RivvenTLSStream
        do {
            stream = try RivvenTLSStream.accept(
                fd: fd,
                peer: "client \(id)",
                certificatePath: tls.certificatePath,
                keyPath: tls.keyPath,
                clientCAPath: tls.clientCAPath,
                timeoutMilliseconds: Int32(
                    clamping: idleTimeout.components.seconds * 1000 + idleTimeout.components.attoseconds
                        / 1_000_000_000_000_000 + 1
                )
            )
        } catch {
            broker.updateStatistics { $0.tlsHandshakeFailures += 1 }
            return .graceful
        }
        let serverName = stream.requestedServerName
        broker.updateStatistics { statistics in
            statistics.tlsHandshakes += 1
            if let serverName { statistics.tlsServerNames[serverName, default: 0] += 1 }
        }
        let ending = serve(.tls(stream))
        if ending == .graceful { stream.sendCloseNotify() }
        return ending
    }

    /// Blocks while the server is paused; returns whether it waited.
    private func waitWhilePaused() -> Bool {
        var waited = false
        while faults.isPaused && !mustEnd() {
            waited = true
            usleep(5_000)
        }
        return waited
    }

    /// Decodes, handles and answers one frame; returns how to end the connection, or nil to go on.
    private func handle(
        _ frame: RivvenFrame,
        auth: inout RivvenBroker.ConnectionAuth,
        replyBuffer: inout [UInt8],
        _ transport: RivvenServerTransport
    ) -> Ending? {
        let request: RivvenRequest
        do {
            request = try RivvenRequest.decode(frame)
        } catch {
            let rejection = RivvenFrameRejection.forPayload(error, frame: frame)
            if error.code == .unsupportedVariant {
                let index = Int(error.value)
                broker.updateStatistics { $0.requestsByKind[RivvenRequest.variantNames[index], default: 0] += 1 }
            } else {
                broker.updateStatistics { $0.malformedFrames += 1 }
            }
            return reject(rejection, into: &replyBuffer, transport)
        }
        let kind = request.variantName
        broker.updateStatistics { $0.requestsByKind[kind, default: 0] += 1 }
        let response: RivvenResponse
        var dropAfterHandling = false
        switch faults.verdict(for: kind) {
        case .dropBefore:
            broker.updateStatistics { $0.connectionsDroppedByFault += 1 }
            return .abrupt
        case .reply(let injected):
            broker.updateStatistics { $0.injectedErrors += 1 }
            response = injected
        case .handle(let dropAfter):
            response = broker.respond(to: request, auth: &auth)
            dropAfterHandling = dropAfter
        }
        if dropAfterHandling {
            broker.updateStatistics { $0.connectionsDroppedByFault += 1 }
            return .abrupt
        }
        let delay = faults.replyDelay(for: kind)
        if delay > .zero && sleepUnlessStopping(delay) { return .abrupt }
        replyBuffer.removeAll(keepingCapacity: true)
        response.encode(correlationID: frame.correlationID, into: &replyBuffer)
        return transport.sendAll(replyBuffer) ? nil : .abrupt
    }

    /// Carries out a rejection; returns how to end the connection, or nil to go on.
    private func reject(
        _ rejection: RivvenFrameRejection,
        into replyBuffer: inout [UInt8],
        _ transport: RivvenServerTransport
    ) -> Ending? {
        switch rejection {
        case .close:
            return .abrupt
        case .reply(let correlationID, let message, let thenClose):
            replyBuffer.removeAll(keepingCapacity: true)
            RivvenResponse.error(message: message).encode(correlationID: correlationID, into: &replyBuffer)
            guard transport.sendAll(replyBuffer) else { return .abrupt }
            return thenClose ? .graceful : nil
        }
    }

    /// Sleeps for `duration` in short steps; returns true when the server started stopping meanwhile.
    private func sleepUnlessStopping(_ duration: Duration) -> Bool {
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end {
            if mustEnd() { return true }
            let left = end - ContinuousClock.now
            let step = left < .milliseconds(10) ? left : .milliseconds(10)
            let micro = step.components.seconds * 1_000_000 + step.components.attoseconds / 1_000_000_000_000
            if micro > 0 { usleep(UInt32(micro)) }
        }
        return mustEnd()
    }
}
