import FastIngest
import Glibc
import Testing

/// What the test client reports instead of a reply.
enum RivvenTestClientError: Error, Equatable, CustomStringConvertible {
    case connectFailed(errno: Int32)
    case sendFailed(errno: Int32)
    /// The server closed (or reset) the connection.
    case closed
    case timedOut
    case undecodable(String)
    case correlationMismatch(expected: UInt32, received: UInt32)

    var description: String {
        switch self {
        case .connectFailed(let code): "connect failed (errno \(code))"
        case .sendFailed(let code): "send failed (errno \(code))"
        case .closed: "connection closed by the server"
        case .timedOut: "no reply in time"
        case .undecodable(let text): "undecodable reply: \(text)"
        case .correlationMismatch(let expected, let received): "reply cid \(received), expected \(expected)"
        }
    }
}

/// A tiny synchronous Rivven client over a blocking loopback socket: write a frame, read a frame. Requests are encoded
/// and replies decoded with the package's codec; raw bytes can be sent too (malformed frames).
final class RivvenTestClient {
    let fd: Int32
    private var decoder = RivvenFrameDecoder(maxFrameLength: RivvenLimits.maxResponseFrameLength)
    /// The next correlation id ``call(_:)`` uses (the official client numbers 0, 1, 2, … per connection).
    var nextCorrelationID: UInt32 = 0
    /// How long ``receive(timeout:)`` waits by default.
    var defaultTimeout: Duration = .seconds(10)

    /// Connects to `127.0.0.1:port`.
    init(port: UInt16) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RivvenTestClientError.connectFailed(errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw RivvenTestClientError.connectFailed(errno: code)
        }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    // MARK: Sending

    /// Writes raw bytes.
    func sendRaw(_ bytes: [UInt8]) throws {
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            var sent = 0
            while sent < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                sent += n
            }
            return true
        }
        if !ok { throw RivvenTestClientError.sendFailed(errno: errno) }
    }

    /// Writes `request` with `correlationID` (default: the next one) and returns the id used.
    @discardableResult
    func send(_ request: RivvenRequest, correlationID: UInt32? = nil) throws -> UInt32 {
        let cid = correlationID ?? nextCorrelationID
        if correlationID == nil { nextCorrelationID &+= 1 }
        var frame: [UInt8] = []
        request.encode(correlationID: cid, into: &frame)
        try sendRaw(frame)
        return cid
    }

    // MARK: Receiving

    /// Reads one whole frame.
    func receiveFrame(timeout: Duration? = nil) throws -> RivvenFrame {
        let deadline = ContinuousClock.now + (timeout ?? defaultTimeout)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            do {
                if let frame = try decoder.next() { return frame }
            } catch {
                throw RivvenTestClientError.undecodable("\(error)")
            }
            let left = deadline - ContinuousClock.now
            if left <= .zero { throw RivvenTestClientError.timedOut }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(
                clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1
            )
            guard poll(&entry, 1, milliseconds) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { throw RivvenTestClientError.closed }
            decoder.append(buffer[0..<n])
        }
    }

    /// Reads one reply: its correlation id and response.
    func receive(timeout: Duration? = nil) throws -> (correlationID: UInt32, response: RivvenResponse) {
        let frame = try receiveFrame(timeout: timeout)
        do {
            return (frame.correlationID, try RivvenResponse.decode(frame))
        } catch {
            throw RivvenTestClientError.undecodable("\(error)")
        }
    }

    /// Sends `request` with the next correlation id and returns its reply, checking the id.
    func call(_ request: RivvenRequest, timeout: Duration? = nil) throws -> RivvenResponse {
        let cid = try send(request)
        let reply = try receive(timeout: timeout)
        if reply.correlationID != cid {
            throw RivvenTestClientError.correlationMismatch(expected: cid, received: reply.correlationID)
        }
        return reply.response
    }

    /// Whether the server closes the connection within `timeout` (bytes that arrive meanwhile are discarded).
    func waitForClose(timeout: Duration = .seconds(5)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while ContinuousClock.now < deadline {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 20) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return true }
        }
        return false
    }
}

/// Test helpers shared by the server suites.
enum RivvenServerTestSupport {
    /// Starts a server with `configuration` (default: rivvend's, auth off).
    static func startServer(_ configuration: RivvenTestServer.Configuration = .init()) throws -> (
        RivvenTestServer, UInt16
    ) {
        let server = RivvenTestServer(configuration: configuration)
        let port = try server.start()
        return (server, port)
    }

    /// A connected client that has done the official client's `Handshake` (cid 0).
    static func connect(_ port: UInt16) throws -> RivvenTestClient {
        let client = try RivvenTestClient(port: port)
        let reply = try client.call(.handshake(protocolVersion: 2, clientID: "rivven-client"))
        #expect(reply == .handshakeResult(serverVersion: 2, compatible: true, message: "OK"))
        return client
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
}
