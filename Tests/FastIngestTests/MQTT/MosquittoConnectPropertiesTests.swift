import Glibc
import Testing

@testable import FastIngest

/// What `MosquittoClient` puts into CONNECT, read off the socket: a loopback listener accepts the TCP connection and
/// records the first packet (nothing answers it; the behaviour against a real broker is tested end to end in
/// RivvenMQTTTests/MQTT5PropertiesTests).
@Suite("MosquittoClient CONNECT", .timeLimit(.minutes(1)))
struct MosquittoConnectPropertiesTests {
    /// The parts of a CONNECT packet these tests look at.
    struct Connect: Equatable {
        var protocolLevel: UInt8
        var cleanStart: Bool
        var keepAlive: UInt16
        /// Property identifier and value, in packet order (MQTT 5 only).
        var properties: [Property]
    }

    enum Property: Equatable {
        case sessionExpiryInterval(UInt32)
        case receiveMaximum(UInt16)
    }

    static func options(
        version: MosquittoOptions.ProtocolVersion,
        cleanSession: Bool,
        port: Int,
        receiveMaximum: Int = 100
    ) -> MosquittoOptions {
        MosquittoOptions(
            clientID: "connect-test",
            cleanSession: cleanSession,
            host: "127.0.0.1",
            port: port,
            keepAliveSeconds: 30,
            protocolVersion: version,
            username: nil,
            password: nil,
            useTLS: false,
            caFile: nil,
            certFile: nil,
            keyFile: nil,
            tlsInsecure: false,
            receiveMaximum: receiveMaximum,
            will: nil
        )
    }

    @Test func persistentMQTT5SessionNeverExpiresAndReceiveMaximumIsMaxInflight() throws {
        let listener = try Listener()
        let client = try MosquittoClient(
            options: Self.options(version: .v5, cleanSession: false, port: listener.port, receiveMaximum: 321)
        )
        let expected = Connect(
            protocolLevel: 5,
            cleanStart: false,
            keepAlive: 30,
            properties: [.sessionExpiryInterval(0xFFFF_FFFF), .receiveMaximum(321)]
        )
        #expect(client.connect().isSuccess)
        #expect(try listener.captureConnect(flushing: client) == expected)
        // libmosquitto keeps the properties for every reconnect.
        #expect(client.reconnect().isSuccess)
        #expect(try listener.captureConnect(flushing: client) == expected)
    }

    @Test func cleanMQTT5SessionExpiresAtOnce() throws {
        let listener = try Listener()
        let client = try MosquittoClient(options: Self.options(version: .v5, cleanSession: true, port: listener.port))
        #expect(client.connect().isSuccess)
        #expect(
            try listener.captureConnect(flushing: client)
                == Connect(
                    protocolLevel: 5,
                    cleanStart: true,
                    keepAlive: 30,
                    properties: [.sessionExpiryInterval(0), .receiveMaximum(100)]
                )
        )
    }

    @Test func mqtt311HasNoProperties() throws {
        let listener = try Listener()
        let client = try MosquittoClient(
            options: Self.options(version: .v311, cleanSession: false, port: listener.port)
        )
        #expect(client.connect().isSuccess)
        #expect(
            try listener.captureConnect(flushing: client)
                == Connect(protocolLevel: 4, cleanStart: false, keepAlive: 30, properties: [])
        )
    }

    /// Parses a whole CONNECT packet; nil when it is not one or has a property these tests do not expect.
    static func parse(_ packet: [UInt8]) -> Connect? {
        var index = 0
        func byte() -> UInt8? {
            guard index < packet.count else { return nil }
            index += 1
            return packet[index - 1]
        }
        func integer(_ width: Int) -> UInt32? {
            var value: UInt32 = 0
            for _ in 0..<width {
                guard let b = byte() else { return nil }
                value = value << 8 | UInt32(b)
            }
            return value
        }
        func varint() -> Int? {
            var value = 0
            var shift = 0
            while let b = byte() {
                value |= Int(b & 0x7F) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        guard byte() == 0x10, let remaining = varint(), packet.count - index == remaining,
            integer(2) == 4, Array(packet[index..<index + 4]) == Array("MQTT".utf8)
        else { return nil }
        index += 4
        guard let level = byte(), let flags = byte(), let keepAlive = integer(2) else { return nil }
        var connect = Connect(
            protocolLevel: level,
            cleanStart: flags & 2 != 0,
            keepAlive: UInt16(keepAlive),
            properties: []
        )
        guard level == 5 else { return connect }
        guard let length = varint() else { return nil }
        let end = index + length
        while index < end {
            switch byte() {
            case 0x11:
                guard let value = integer(4) else { return nil }
                connect.properties.append(.sessionExpiryInterval(value))
            case 0x21:
                guard let value = integer(2) else { return nil }
                connect.properties.append(.receiveMaximum(UInt16(value)))
            default:
                return nil
            }
        }
        return index == end ? connect : nil
    }
}

/// A loopback TCP listener that takes connections and reads the first MQTT packet from each.
final class Listener {
    let socket: Int32
    let port: Int

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init() throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw Failure(description: "bind/listen: errno \(errno)")
        }
        socket = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit {
        close(socket)
    }

    /// Accepts the client's connection (already queued by the kernel after `connect()`), lets the client write
    /// its queued CONNECT, and parses it.
    func captureConnect(flushing client: MosquittoClient) throws -> MosquittoConnectPropertiesTests.Connect? {
        let connection = accept(socket, nil, nil)
        guard connection >= 0 else { throw Failure(description: "accept: errno \(errno)") }
        defer { close(connection) }
        var packet: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<500 {
            _ = client.loopWrite()
            var descriptor = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 10) > 0 else { continue }
            let count = chunk.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            packet += chunk[0..<count]
            if let connect = MosquittoConnectPropertiesTests.parse(packet) { return connect }
        }
        Issue.record("no whole CONNECT packet arrived: \(packet)")
        return nil
    }
}
