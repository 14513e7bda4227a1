import Glibc

/// The few POSIX socket calls the test server makes, on plain file descriptors.
enum RivvenServerSocket {
    /// Opens a listening TCP socket on `host:port` (IPv4; port 0 = any free port) and returns it with its port.
    static func listen(host: String, port: UInt16) throws(RivvenTestServerError) -> (fd: Int32, port: UInt16) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw RivvenTestServerError(.badAddress) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RivvenTestServerError(.socket, errno: errno) }
        var one: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let code = errno
            close(fd)
            throw RivvenTestServerError(.socket, errno: code)
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw RivvenTestServerError(.bind, errno: code)
        }
        guard Glibc.listen(fd, 128) == 0 else {
            let code = errno
            close(fd)
            throw RivvenTestServerError(.listen, errno: code)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            let code = errno
            close(fd)
            throw RivvenTestServerError(.listen, errno: code)
        }
        return (fd, UInt16(bigEndian: actual.sin_port))
    }

    /// Accepts one pending connection (close-on-exec, `TCP_NODELAY`), or nil.
    static func accept(_ listener: Int32) -> Int32? {
        // accept4 needs _GNU_SOURCE, which Swift's Glibc module does not define.
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    /// Bounds how long one `send` may block, so a client that stops reading cannot hold a connection thread forever.
    static func setSendTimeout(_ fd: Int32, milliseconds: Int) {
        var timeout = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Polls `fds` for readability for up to `milliseconds`; returns which are readable (or hung up / in error).
    static func pollReadable(_ fds: [Int32], milliseconds: Int32) -> [Bool] {
        var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let ready = poll(&entries, nfds_t(entries.count), milliseconds)
        guard ready > 0 else { return Array(repeating: false, count: fds.count) }
        return entries.map { $0.revents != 0 }
    }

    /// Writes all of `bytes` (no SIGPIPE); false when the peer is gone or the send timed out.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n > 0 {
                    sent += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return false
                }
            }
            return true
        }
    }

    /// Reads what is available into `buffer`; returns the byte count, 0 at end of stream, -1 on error.
    static func receive(_ fd: Int32, into buffer: inout [UInt8]) -> Int {
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            return n
        }
    }

    /// Sends FIN, discards what the peer still sends for up to `milliseconds` (so closing does not reset the
    /// connection and destroy a reply the peer has not read yet), then closes.
    static func closeGracefully(_ fd: Int32, lingerMilliseconds: Int32) {
        _ = shutdown(fd, Int32(SHUT_WR))
        var scratch = [UInt8](repeating: 0, count: 16_384)
        let deadline = ContinuousClock.now + .milliseconds(Int64(lingerMilliseconds))
        while ContinuousClock.now < deadline {
            if pollReadable([fd], milliseconds: 20)[0] && receive(fd, into: &scratch) <= 0 { break }
        }
        close(fd)
    }
}
