import Glibc

/// `check`'s verification of the sink: the local log directory is writable, and each Rivven bootstrap server
/// accepts a TCP connection.
public enum SinkProbe {
    /// One result line.
    public struct Step: Sendable, Equatable {
        /// What was checked.
        public var name: String
        /// Whether it passed.
        public var ok: Bool
        /// The detail or the reason.
        public var detail: String
    }

    /// Runs the sink checks for `configuration`.
    public static func check(_ configuration: IngestConfiguration) -> [Step] {
        var steps = [checkLogDirectory(configuration.log.dir)]
        if let rivven = configuration.rivven {
            for server in rivven.bootstrapServers {
                steps.append(checkTCP(server))
            }
        }
        return steps
    }

    /// Creates the directory if needed and writes, syncs and removes a probe file in it.
    static func checkLogDirectory(_ dir: String) -> Step {
        let name = "log dir"
        if mkdir(dir, 0o755) != 0 && errno != EEXIST {
            return Step(name: name, ok: false, detail: "cannot create \(dir): \(String(cString: strerror(errno)))")
        }
        let probe = dir + "/.rivven-mqtt-check-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            return Step(name: name, ok: false, detail: "\(dir) is not writable: \(String(cString: strerror(errno)))")
        }
        let ok = write(fd, "x", 1) == 1 && fsync(fd) == 0
        let reason = String(cString: strerror(errno))
        close(fd)
        unlink(probe)
        return ok
            ? Step(name: name, ok: true, detail: "\(dir) is writable")
            : Step(name: name, ok: false, detail: "cannot write to \(dir): \(reason)")
    }

    /// Opens and closes a TCP connection to `host:port` with a 5 s timeout.
    static func checkTCP(_ server: String) -> Step {
        let name = "rivven \(server)"
        guard let colon = server.lastIndex(of: ":"), let port = Int(server[server.index(after: colon)...]) else {
            return Step(name: name, ok: false, detail: "expected host:port")
        }
        var host = String(server[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            return Step(name: name, ok: false, detail: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue), 0)
            if fd >= 0 {
                defer { close(fd) }
                if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 || errno == EINPROGRESS {
                    var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    if poll(&pfd, 1, 5000) == 1 {
                        var error: Int32 = 0
                        var length = socklen_t(MemoryLayout<Int32>.size)
                        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                        if error == 0 {
                            return Step(
                                name: name,
                                ok: true,
                                detail: "TCP connection accepted (protocol check comes with the Rivven sink)"
                            )
                        }
                        lastError = String(cString: strerror(error))
                    } else {
                        lastError = "timed out after 5 s"
                    }
                } else {
                    lastError = String(cString: strerror(errno))
                }
            }
            entry = info.pointee.ai_next
        }
        return Step(name: name, ok: false, detail: "cannot connect: \(lastError)")
    }
}
