import Glibc
import Synchronization

/// Free loopback TCP ports, found by binding port 0 and reading back what the kernel chose.
///
/// A port is free when handed out, not reserved: whoever binds it later can still lose a race with another
/// process, so callers that bind retry with a new port (`MosquittoBroker` does). Within this process the same
/// port is never handed out twice.
enum FreePort {
    private static let handedOut = Mutex<Set<Int>>([])

    /// A TCP port that is free on 127.0.0.1 (and, with `includingIPv6`, on ::1 too).
    static func allocate(includingIPv6: Bool = false) -> Int {
        for _ in 0..<200 {
            guard let port = bindEphemeral() else { continue }
            if includingIPv6 && !isFree(port: port, ipv6: true) { continue }
            let isNew = handedOut.withLock { $0.insert(port).inserted }
            if isNew { return port }
        }
        preconditionFailure("FreePort: no free loopback port after 200 attempts (errno \(errno))")
    }

    /// Binds 127.0.0.1:0, reads the chosen port and closes the socket.
    private static func bindEphemeral() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = LoopbackAddress.ipv4(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { return nil }
        var chosen = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &chosen) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        return Int(UInt16(bigEndian: chosen.sin_port))
    }

    /// Whether `port` can be bound right now on the loopback address of the given family.
    static func isFree(port: Int, ipv6: Bool) -> Bool {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if ipv6 {
            var only: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &only, socklen_t(MemoryLayout<Int32>.size))
            var address = LoopbackAddress.ipv6(port: port)
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
                }
            }
        }
        var address = LoopbackAddress.ipv4(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// Socket addresses for 127.0.0.1 and ::1.
enum LoopbackAddress {
    static func ipv4(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        return address
    }

    static func ipv6(port: Int) -> sockaddr_in6 {
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = in_port_t(UInt16(port).bigEndian)
        address.sin6_addr = in6addr_loopback
        return address
    }
}

/// Whether something accepts TCP connections on a loopback port (connect, then close at once).
enum TCPProbe {
    static func isAccepting(port: Int, ipv6: Bool = false) -> Bool {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // A connect to loopback is answered at once; the send timeout also bounds connect(2) should a full
        // accept backlog make it wait.
        var limit = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        if ipv6 {
            var address = LoopbackAddress.ipv6(port: port)
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
                }
            }
        }
        var address = LoopbackAddress.ipv4(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
