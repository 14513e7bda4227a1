import Glibc

/// Why a Rivven connection failed, in words, naming the server.
package struct RivvenStreamError: Error, Sendable, CustomStringConvertible {
    /// What happened, e.g. `127.0.0.1:9092: cannot connect: Connection refused`.
    package var message: String
    /// Whether the peer closed the connection (end of stream), as opposed to an error.
    package var closedByPeer: Bool

    package init(_ message: String, closedByPeer: Bool = false) {
        self.message = message
        self.closedByPeer = closedByPeer
    }

    package var description: String { message }
}

/// A connected, non-blocking byte stream to one Rivven broker: plain TCP (``RivvenTCPStream``) or TLS.
///
/// The owner polls ``fileDescriptor`` itself, for the events ``pollEvents(wantRead:wantWrite:)`` returns, and
/// reads what ``hasBufferedInput`` says is already there before polling (a TLS record is decrypted whole).
package protocol RivvenStream: AnyObject {
    /// The socket, for `poll`.
    var fileDescriptor: Int32 { get }
    /// `host:port` as configured, for messages.
    var server: String { get }
    /// Writes as much of `bytes` as the connection takes now. Returns the count written; 0 when it would block.
    func write(_ bytes: UnsafeRawBufferPointer) throws(RivvenStreamError) -> Int
    /// Reads what has arrived into `buffer`. Returns the count; 0 when nothing is there now (it would block).
    /// Throws with ``RivvenStreamError/closedByPeer`` at the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(RivvenStreamError) -> Int
    /// The `poll` events to wait for when the caller wants to read and/or write (a TLS stream may need writability
    /// to make progress on a read, or the reverse).
    func pollEvents(wantRead: Bool, wantWrite: Bool) -> Int16
    /// Whether input is already buffered in user space, so `read` returns data without the socket being readable.
    var hasBufferedInput: Bool { get }
    /// What the stream is, for logs: `tcp`, `tcp+io_uring`, `tls 1.3`.
    var kind: String { get }
}

/// Opens streams to Rivven brokers.
package enum RivvenStreams {
    /// Connects to `server` (`host:port`, `[v6]:port`) within `timeoutMilliseconds`, with TCP_NODELAY; with
    /// `tls.enabled`, completes a TLS handshake too (within the same timeout).
    package static func connect(
        _ server: String,
        tls: RivvenTLSConfiguration,
        timeoutMilliseconds: Int32,
        useIOURing: Bool = false
    ) throws(RivvenStreamError) -> any RivvenStream {
        let start = ContinuousClock.now
        let fd = try connectTCP(server, timeoutMilliseconds: timeoutMilliseconds)
        if tls.enabled {
            return try RivvenTLSStream.connect(
                fd: fd,
                server: server,
                tls: tls,
                timeoutMilliseconds: timeoutMilliseconds,
                start: start
            )
        }
        return RivvenTCPStream(fd: fd, server: server, useIOURing: useIOURing)
    }

    /// A connected non-blocking TCP socket with TCP_NODELAY.
    package static func connectTCP(_ server: String, timeoutMilliseconds: Int32) throws(RivvenStreamError) -> Int32 {
        guard let colon = server.lastIndex(of: ":"), let port = UInt16(server[server.index(after: colon)...]) else {
            throw RivvenStreamError("\(server): expected host:port")
        }
        var host = String(server[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw RivvenStreamError("\(server): cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { continue }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
                lastError = String(cString: strerror(errno))
                close(fd)
                continue
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&pfd, 1, timeoutMilliseconds) == 1 else {
                lastError = "no TCP connection within \(timeoutMilliseconds) ms"
                close(fd)
                continue
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else {
                lastError = String(cString: strerror(error))
                close(fd)
                continue
            }
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return fd
        }
        throw RivvenStreamError("\(server): cannot connect: \(lastError)")
    }
}

/// A plain TCP connection to a Rivven broker. Writes go through an io_uring `IORING_OP_SEND` when the ring could
/// be set up (``RivvenSocketSender``), otherwise through `send(2)`.
package final class RivvenTCPStream: RivvenStream {
    package let fileDescriptor: Int32
    package let server: String
    private var sender: RivvenSocketSender

    package init(fd: Int32, server: String, useIOURing: Bool) {
        self.fileDescriptor = fd
        self.server = server
        self.sender = RivvenSocketSender(useIOURing: useIOURing)
    }

    deinit { close(fileDescriptor) }

    package var kind: String { sender.usesIOURing ? "tcp+io_uring" : "tcp" }
    package var hasBufferedInput: Bool { false }

    package func pollEvents(wantRead: Bool, wantWrite: Bool) -> Int16 {
        Int16((wantRead ? POLLIN : 0) | (wantWrite ? POLLOUT : 0))
    }

    package func write(_ bytes: UnsafeRawBufferPointer) throws(RivvenStreamError) -> Int {
        switch sender.send(fileDescriptor, bytes) {
        case .sent(let count): return count
        case .wouldBlock: return 0
        case .failed(let code):
            throw RivvenStreamError(
                "\(server): send failed: \(String(cString: strerror(code)))",
                closedByPeer: code == EPIPE || code == ECONNRESET
            )
        }
    }

    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(RivvenStreamError) -> Int {
        while true {
            let n = recv(fileDescriptor, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return n }
            if n == 0 { throw RivvenStreamError("\(server): the broker closed the connection", closedByPeer: true) }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return 0 }
            let code = errno
            throw RivvenStreamError(
                "\(server): receive failed: \(String(cString: strerror(code)))",
                closedByPeer: code == ECONNRESET
            )
        }
    }
}
