import Glibc

/// The byte stream of one served connection: the socket itself (blocking, as always), or TLS over it (non-blocking,
/// driven with `poll`). The connection's thread is its only user; the socket stays the connection's to close.
enum RivvenServerTransport {
    case plain(Int32)
    case tls(RivvenTLSStream)

    /// What ``receive(into:)`` got.
    enum Received {
        /// This many bytes, at the start of the buffer.
        case bytes(Int)
        /// Nothing to hand out yet (a TLS record is incomplete, or held no application data): wait again.
        case nothing
        /// The peer closed the connection, or it failed.
        case ended
    }

    /// Waits up to `milliseconds` for input; true when some may be read (or the socket hung up or is in error).
    func waitReadable(milliseconds: Int32) -> Bool {
        switch self {
        case .plain(let fd):
            return RivvenServerSocket.pollReadable([fd], milliseconds: milliseconds)[0]
        case .tls(let stream):
            if stream.hasBufferedInput { return true }
            var entry = pollfd(
                fd: stream.fileDescriptor,
                events: stream.pollEvents(wantRead: true, wantWrite: false),
                revents: 0
            )
            return poll(&entry, 1, milliseconds) > 0
        }
    }

    /// Reads what is available into `buffer`.
    func receive(into buffer: inout [UInt8]) -> Received {
        switch self {
        case .plain(let fd):
            let count = RivvenServerSocket.receive(fd, into: &buffer)
            return count > 0 ? .bytes(count) : .ended
        case .tls(let stream):
            let result = buffer.withUnsafeMutableBytes { raw in
                Result { () throws(RivvenStreamError) in try stream.read(into: raw) }
            }
            switch result {
            case .success(let count): return count > 0 ? .bytes(count) : .nothing
            case .failure: return .ended
            }
        }
    }

    /// Writes all of `bytes`; false when the peer is gone or nothing could be sent for 30 s (the send timeout of the
    /// plain socket).
    func sendAll(_ bytes: [UInt8]) -> Bool {
        switch self {
        case .plain(let fd):
            return RivvenServerSocket.sendAll(fd, bytes)
        case .tls(let stream):
            var sent = 0
            while sent < bytes.count {
                let result = bytes.withUnsafeBytes { raw in
                    Result { () throws(RivvenStreamError) in
                        try stream.write(UnsafeRawBufferPointer(rebasing: raw[sent...]))
                    }
                }
                guard case .success(let count) = result else { return false }
                if count > 0 {
                    sent += count
                    continue
                }
                var entry = pollfd(
                    fd: stream.fileDescriptor,
                    events: stream.pollEvents(wantRead: false, wantWrite: true),
                    revents: 0
                )
                let ready = poll(&entry, 1, 30_000)
                if ready < 0 && errno == EINTR { continue }
                guard ready > 0 else { return false }
            }
            return true
        }
    }
}
