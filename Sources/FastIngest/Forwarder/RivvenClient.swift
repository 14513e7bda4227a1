import Glibc

/// A blocking Rivven connection: one request at a time, replies matched by correlation id (WIRE.md §1, §4). Used by
/// `check`, and the base the forwarder builds on. Not for the MQTT hot path.
public final class RivvenClient {
    /// A failure in words, with the server it concerns.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// Why.
        public var message: String
        public var description: String { message }
    }

    private let stream: any RivvenStream
    private let server: String
    private var nextCorrelationID: UInt32 = 0
    private var decoder = RivvenFrameDecoder(maxFrameLength: RivvenLimits.maxResponseFrameLength)
    private var scratch: [UInt8] = []
    private var receiveBuffer = [UInt8](repeating: 0, count: 65536)
    private let timeoutMilliseconds: Int32

    /// Connects to `host:port` (`[v6]:port` accepted) within `timeout`; over TLS when `tls.enabled`.
    public init(
        server: String,
        tls: RivvenTLSConfiguration = RivvenTLSConfiguration(),
        timeout: Duration = .seconds(10)
    ) throws(Failure) {
        self.server = server
        let ms = timeout.wholeMilliseconds
        self.timeoutMilliseconds = Int32(clamping: ms)
        do {
            self.stream = try RivvenStreams.connect(server, tls: tls, timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            throw Failure(message: error.message)
        }
    }

    /// Sends `request` and returns its reply (the one with the same correlation id).
    public func send(_ request: RivvenRequest) throws(Failure) -> RivvenResponse {
        let cid = nextCorrelationID
        nextCorrelationID &+= 1
        scratch.removeAll(keepingCapacity: true)
        request.encode(correlationID: cid, into: &scratch)
        try writeAll(scratch)
        while true {
            let frame: RivvenFrame?
            do {
                frame = try decoder.next()
            } catch {
                throw Failure(message: "\(server): malformed reply: \(error)")
            }
            if let frame {
                let response: RivvenResponse
                do {
                    response = try RivvenResponse.decode(frame)
                } catch {
                    throw Failure(message: "\(server): undecodable reply: \(error)")
                }
                // cid 0 errors answer frames the broker could not parse (WIRE.md §2).
                if frame.correlationID == cid
                    || (frame.correlationID == 0 && { if case .error = response { true } else { false } }())
                {
                    return response
                }
                throw Failure(message: "\(server): reply with correlation id \(frame.correlationID), expected \(cid)")
            }
            try readSome()
        }
    }

    private func writeAll(_ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            // Errors come back as values: typed throws through `withUnsafeBytes` crash the 6.3 compiler.
            let result = bytes.withUnsafeBytes { raw in
                Result { () throws(RivvenStreamError) in
                    try stream.write(UnsafeRawBufferPointer(rebasing: raw[offset...]))
                }
            }
            let written: Int
            switch result {
            case .success(let count): written = count
            case .failure(let error): throw Failure(message: error.message)
            }
            if written > 0 {
                offset += written
                continue
            }
            var pfd = pollfd(
                fd: stream.fileDescriptor,
                events: stream.pollEvents(wantRead: false, wantWrite: true),
                revents: 0
            )
            guard poll(&pfd, 1, timeoutMilliseconds) == 1 else {
                throw Failure(message: "\(server): send timed out after \(timeoutMilliseconds) ms")
            }
        }
    }

    private func readSome() throws(Failure) {
        if !stream.hasBufferedInput {
            var pfd = pollfd(
                fd: stream.fileDescriptor,
                events: stream.pollEvents(wantRead: true, wantWrite: false),
                revents: 0
            )
            guard poll(&pfd, 1, timeoutMilliseconds) == 1 else {
                throw Failure(message: "\(server): no reply within \(timeoutMilliseconds) ms")
            }
        }
        let result = receiveBuffer.withUnsafeMutableBytes { raw in
            Result { () throws(RivvenStreamError) in try stream.read(into: raw) }
        }
        let n: Int
        switch result {
        case .success(let count): n = count
        case .failure(let error): throw Failure(message: error.message)
        }
        if n > 0 {
            receiveBuffer.withUnsafeBytes { decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    // MARK: Session steps

    /// Handshake with protocol version 2: `compatible == false` is a failure; an `Error` reply (a broker that
    /// requires authentication first) is fine, as the real client treats it (WIRE.md §5).
    public func handshake(clientID: String) throws(Failure) {
        let reply = try send(.handshake(protocolVersion: RivvenLimits.protocolVersion, clientID: clientID))
        if case .handshakeResult(let version, let compatible, let message) = reply, !compatible {
            throw Failure(message: "\(server): incompatible protocol (server version \(version)): \(message)")
        }
    }

    /// SCRAM-SHA-256 login (RFC 5802/7677, WIRE.md §6); verifies the server's signature.
    public func authenticate(username: String, password: String) throws(Failure) {
        let failure = RivvenSCRAM.authenticate(username: username, password: password, server: server) {
            request throws(Failure) in try send(request)
        }
        if let failure { throw Failure(message: failure) }
    }

    /// A reply in words, for failure messages.
    static func describe(_ response: RivvenResponse) -> String {
        if case .error(let message) = response { return message }
        return "unexpected reply \(response.variantName)"
    }
}
