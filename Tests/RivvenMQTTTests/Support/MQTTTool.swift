import Foundation
import Glibc
import Synchronization

/// Publishing and subscribing with the real command-line clients `mosquitto_pub` and `mosquitto_sub`
/// (Debian package mosquitto-clients), as an independent MQTT peer for the product under test.
///
/// Every call runs a client process with a deadline; a client that cannot connect (refused, bad password,
/// TLS failure) makes the call throw a `HarnessError` carrying the client's stderr.
enum MQTTTool {
    /// The MQTT protocol version a client speaks (`-V`).
    enum ProtocolVersion: String, Sendable {
        case v31 = "mqttv31"
        case v311 = "mqttv311"
        case v5 = "mqttv5"
    }

    /// Client-side TLS settings.
    struct TLSOptions: Sendable, Hashable {
        /// The CA certificate to trust (`--cafile`).
        var caFile: String
        /// A client certificate and key to present (`--cert`, `--key`), for mutual TLS.
        var certFile: String?
        var keyFile: String?
        /// Skip the host-name check (`--insecure`); the chain is still verified.
        var insecure = false
        /// `--tls-version` (tlsv1.2, tlsv1.3), or the client's default.
        var version: String?

        init(
            caFile: String,
            certFile: String? = nil,
            keyFile: String? = nil,
            insecure: Bool = false,
            version: String? = nil
        ) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
            self.insecure = insecure
            self.version = version
        }
    }

    /// Where and how a client connects.
    struct Endpoint: Sendable, Hashable {
        var host = "127.0.0.1"
        var port: Int
        var username: String?
        var password: String?
        var tls: TLSOptions?
        var protocolVersion: ProtocolVersion = .v311

        init(
            host: String = "127.0.0.1",
            port: Int,
            username: String? = nil,
            password: String? = nil,
            tls: TLSOptions? = nil,
            protocolVersion: ProtocolVersion = .v311
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.tls = tls
            self.protocolVersion = protocolVersion
        }

        /// Parses "mqtt://[user[:password]@]host[:port]" (default port 1883) or "mqtts://…" (default port
        /// 8883; TLS needs `tls` set afterwards for the CA file). A path part is ignored.
        init(url: String) throws {
            guard let components = URLComponents(string: url), let scheme = components.scheme,
                scheme == "mqtt" || scheme == "mqtts", let host = components.host, !host.isEmpty
            else {
                throw HarnessError("not an mqtt:// or mqtts:// URL: \(url)")
            }
            self.init(
                host: host,
                port: components.port ?? (scheme == "mqtts" ? 8883 : 1883),
                username: components.user,
                password: components.password
            )
        }

        /// The same endpoint with other credentials.
        func with(username: String?, password: String?) -> Endpoint {
            var copy = self
            copy.username = username
            copy.password = password
            return copy
        }

        /// The same endpoint speaking another protocol version.
        func with(protocolVersion: ProtocolVersion) -> Endpoint {
            var copy = self
            copy.protocolVersion = protocolVersion
            return copy
        }

        /// The connection arguments shared by mosquitto_pub and mosquitto_sub.
        var arguments: [String] {
            var arguments = ["-h", host, "-p", String(port), "-V", protocolVersion.rawValue]
            if let username {
                arguments += ["-u", username]
            }
            if let password {
                arguments += ["-P", password]
            }
            if let tls {
                arguments += ["--cafile", tls.caFile]
                if let certFile = tls.certFile {
                    arguments += ["--cert", certFile]
                }
                if let keyFile = tls.keyFile {
                    arguments += ["--key", keyFile]
                }
                if tls.insecure {
                    arguments.append("--insecure")
                }
                if let version = tls.version {
                    arguments += ["--tls-version", version]
                }
            }
            return arguments
        }
    }

    /// An MQTT v5 property for `-D` (`-D command identifier value…`); using any forces MQTT v5.
    struct Property: Sendable, Hashable {
        /// The packet: "publish", "connect", "subscribe", ….
        var command: String
        /// The property name as the clients spell it: "user-property", "content-type", ….
        var identifier: String
        /// One value, or two for user-property (name, value).
        var values: [String]

        init(command: String = "publish", identifier: String, values: [String]) {
            self.command = command
            self.identifier = identifier
            self.values = values
        }

        static func userProperty(_ name: String, _ value: String, command: String = "publish") -> Property {
            Property(command: command, identifier: "user-property", values: [name, value])
        }

        static func contentType(_ type: String) -> Property {
            Property(identifier: "content-type", values: [type])
        }

        static func messageExpiryInterval(seconds: Int) -> Property {
            Property(identifier: "message-expiry-interval", values: [String(seconds)])
        }

        static func responseTopic(_ topic: String) -> Property {
            Property(identifier: "response-topic", values: [topic])
        }

        static func payloadFormatIndicator(utf8: Bool) -> Property {
            Property(identifier: "payload-format-indicator", values: [utf8 ? "1" : "0"])
        }

        var arguments: [String] { ["-D", command, identifier] + values }
    }

    /// One message as mosquitto_sub received it (payload bytes exact: the subscriber prints them in hex).
    struct ReceivedMessage: Sendable, Hashable, CustomStringConvertible {
        var topic: String
        var payload: [UInt8]
        var qos: Int
        var retained: Bool

        /// The payload decoded as UTF-8.
        var text: String { String(decoding: payload, as: UTF8.self) }

        var description: String { "\(topic) q\(qos)\(retained ? " retained" : ""): \(text)" }
    }

    static func mosquittoPub() throws -> String {
        guard let path = BinaryProcess.which("mosquitto_pub") else {
            throw HarnessError("mosquitto_pub is not installed (Debian package mosquitto-clients)")
        }
        return path
    }

    static func mosquittoSub() throws -> String {
        guard let path = BinaryProcess.which("mosquitto_sub") else {
            throw HarnessError("mosquitto_sub is not installed (Debian package mosquitto-clients)")
        }
        return path
    }

    // MARK: Publishing

    /// Publishes one message with mosquitto_pub. The payload goes through stdin (`-s`), so any bytes
    /// are sent exactly; an empty payload is sent with `-n`. Returns when mosquitto_pub has finished
    /// (for QoS 1/2: when the broker has acknowledged).
    static func publish(
        to endpoint: Endpoint,
        topic: String,
        payload: [UInt8],
        qos: Int = 0,
        retain: Bool = false,
        clientID: String? = nil,
        properties: [Property] = [],
        timeout: Duration = .seconds(30)
    ) async throws {
        var arguments = try commonPublishArguments(
            endpoint,
            topic: topic,
            qos: qos,
            retain: retain,
            clientID: clientID,
            properties: properties
        )
        arguments.append(payload.isEmpty ? "-n" : "-s")
        try await BinaryProcess.runChecked(
            try mosquittoPub(),
            arguments,
            standardInput: payload.isEmpty ? nil : payload,
            timeout: timeout
        )
    }

    /// Publishes one UTF-8 text message.
    static func publish(
        to endpoint: Endpoint,
        topic: String,
        message: String,
        qos: Int = 0,
        retain: Bool = false,
        clientID: String? = nil,
        properties: [Property] = [],
        timeout: Duration = .seconds(30)
    ) async throws {
        try await publish(
            to: endpoint,
            topic: topic,
            payload: Array(message.utf8),
            qos: qos,
            retain: retain,
            clientID: clientID,
            properties: properties,
            timeout: timeout
        )
    }

    /// Publishes many messages over one connection: mosquitto_pub `-l` sends each stdin line as a
    /// message, in order. Messages must not contain "\n" (and should not be empty).
    static func publishMany(
        to endpoint: Endpoint,
        topic: String,
        messages: [String],
        qos: Int = 0,
        retain: Bool = false,
        clientID: String? = nil,
        properties: [Property] = [],
        timeout: Duration = .seconds(120)
    ) async throws {
        precondition(!messages.contains { $0.contains("\n") }, "publishMany sends one message per line")
        guard !messages.isEmpty else { return }
        var arguments = try commonPublishArguments(
            endpoint,
            topic: topic,
            qos: qos,
            retain: retain,
            clientID: clientID,
            properties: properties
        )
        arguments.append("-l")
        let input = Array((messages.joined(separator: "\n") + "\n").utf8)
        try await BinaryProcess.runChecked(try mosquittoPub(), arguments, standardInput: input, timeout: timeout)
    }

    /// Removes the retained message of `topic` (publishes an empty retained message).
    static func clearRetained(at endpoint: Endpoint, topic: String, timeout: Duration = .seconds(30)) async throws {
        try await publish(to: endpoint, topic: topic, payload: [], qos: 1, retain: true, timeout: timeout)
    }

    private static func commonPublishArguments(
        _ endpoint: Endpoint,
        topic: String,
        qos: Int,
        retain: Bool,
        clientID: String?,
        properties: [Property]
    ) throws -> [String] {
        precondition((0...2).contains(qos), "QoS is 0, 1 or 2")
        var endpoint = endpoint
        if !properties.isEmpty {
            endpoint.protocolVersion = .v5
        }
        var arguments = endpoint.arguments + ["-t", topic, "-q", String(qos)]
        if retain {
            arguments.append("-r")
        }
        if let clientID {
            arguments += ["-i", clientID]
        }
        for property in properties {
            arguments += property.arguments
        }
        return arguments
    }

    // MARK: Subscribing

    /// A running mosquitto_sub whose received messages are collected as they arrive.
    final class Subscription: Sendable {
        /// The mosquitto_sub process (its stderr explains failures).
        let process: BinaryProcess
        /// Output lines parsed so far, and the messages among them.
        private let parsed = Mutex<(lineCount: Int, messages: [ReceivedMessage])>((0, []))

        fileprivate init(process: BinaryProcess) {
            self.process = process
        }

        deinit {
            process.signal(SIGKILL)
        }

        /// Every message received so far, in order.
        var messages: [ReceivedMessage] {
            parsed.withLock { parsed in
                let newLines = process.stdout.completeLines(from: parsed.lineCount)
                parsed.lineCount += newLines.count
                parsed.messages += newLines.compactMap(MQTTTool.parseMessageLine)
                return parsed.messages
            }
        }

        /// Waits until `count` messages arrived and returns them (the first `count`); on timeout, or if the
        /// client exited, returns those that did arrive.
        func waitForMessages(count: Int, timeout: Duration = .seconds(30)) async -> [ReceivedMessage] {
            await Eventually.wait(timeout: timeout, interval: .milliseconds(25)) {
                messages.count >= count || (!process.isRunning && process.stdout.isFinished)
            }
            return Array(messages.prefix(count))
        }

        var isRunning: Bool { process.isRunning }

        /// Disconnects (SIGTERM makes mosquitto_sub send DISCONNECT) and waits for the client to exit.
        func stop() async {
            await process.terminate(grace: .seconds(5))
        }

        /// Ends the client without a DISCONNECT (SIGKILL), like a crashed consumer.
        func kill() async {
            process.signal(SIGKILL)
            await process.waitForExit(timeout: .seconds(20))
        }
    }

    /// Starts mosquitto_sub on `topics` and returns once the broker has acknowledged the subscription
    /// (SUBACK), so a publish made after this returns is received. With `count`, the client disconnects
    /// by itself after that many messages (`-C`). With `cleanSession: false` and a `clientID`, the broker
    /// keeps the session (and queues QoS 1/2 messages) while the client is away (`-c`).
    static func startSubscriber(
        to endpoint: Endpoint,
        topics: [String],
        qos: Int = 0,
        count: Int? = nil,
        clientID: String? = nil,
        cleanSession: Bool = true,
        properties: [Property] = [],
        readyTimeout: Duration = .seconds(30)
    ) async throws -> Subscription {
        precondition((0...2).contains(qos), "QoS is 0, 1 or 2")
        precondition(!topics.isEmpty, "subscribe to at least one topic")
        precondition(cleanSession || clientID != nil, "a persistent session needs a client id")
        var endpoint = endpoint
        if !properties.isEmpty {
            endpoint.protocolVersion = .v5
        }
        // -d prints "received SUBACK" (our readiness signal); stdbuf makes those debug lines reach us at
        // once (mosquitto_sub flushes stdout only after messages). -F prints each message on one line
        // with the payload in hex, so payload bytes (newlines included) come through exactly.
        var arguments = ["-oL", try mosquittoSub()] + endpoint.arguments
        for topic in topics {
            arguments += ["-t", topic]
        }
        arguments += ["-q", String(qos), "-d", "-F", "\(messagePrefix)%q %r %l %x %t"]
        if let count {
            arguments += ["-C", String(count)]
        }
        if let clientID {
            arguments += ["-i", clientID]
        }
        if !cleanSession {
            arguments.append("-c")
        }
        for property in properties {
            arguments += property.arguments
        }
        guard let stdbuf = BinaryProcess.which("stdbuf") else {
            throw HarnessError("stdbuf (coreutils) is not installed")
        }
        let process = BinaryProcess(executable: stdbuf)
        try process.start(arguments: arguments)
        let subscription = Subscription(process: process)
        let suback = Array("received SUBACK".utf8)
        await Eventually.wait(timeout: readyTimeout, interval: .milliseconds(20)) {
            process.stdout.search(suback, from: 0).found || !process.isRunning
        }
        if process.stdout.search(suback, from: 0).found {
            return subscription
        }
        // With -C, queued messages of a persistent session can reach the count (and make the client
        // disconnect) before the SUBACK is printed: a clean exit after receiving is a success too.
        if !process.isRunning, await process.waitForExit(timeout: .seconds(5)) == 0, !subscription.messages.isEmpty {
            return subscription
        }
        await subscription.kill()
        throw HarnessError(
            """
            mosquitto_sub was not subscribed within \(readyTimeout) \
            (exit status \(process.exitStatus.map(String.init) ?? "none, still running")): \(process.commandLine)
            stderr: \(process.stderrText.harnessTail())
            stdout: \(process.stdoutText.harnessTail())
            """
        )
    }

    /// Subscribes, waits for `count` messages (at most `timeout`), disconnects and returns what arrived,
    /// which may be fewer than `count` on timeout. Throws if the client could not subscribe. Use
    /// `startSubscriber` instead when the messages are published after the call starts.
    static func subscribe(
        to endpoint: Endpoint,
        topics: [String],
        qos: Int = 0,
        count: Int,
        timeout: Duration = .seconds(30),
        clientID: String? = nil,
        cleanSession: Bool = true,
        properties: [Property] = []
    ) async throws -> [ReceivedMessage] {
        let subscription = try await startSubscriber(
            to: endpoint,
            topics: topics,
            qos: qos,
            count: count,
            clientID: clientID,
            cleanSession: cleanSession,
            properties: properties,
            readyTimeout: timeout
        )
        let messages = await subscription.waitForMessages(count: count, timeout: timeout)
        // With -C the client disconnects by itself after `count` messages; give it the chance to do so
        // cleanly (acknowledging the last one) before it is stopped.
        if messages.count < count {
            await subscription.stop()
        } else if await subscription.process.waitForExit(timeout: .seconds(5)) == nil {
            await subscription.stop()
        }
        return messages
    }

    /// `subscribe(to:topics:…)` for one topic filter.
    static func subscribe(
        to endpoint: Endpoint,
        topic: String,
        qos: Int = 0,
        count: Int,
        timeout: Duration = .seconds(30),
        clientID: String? = nil,
        cleanSession: Bool = true
    ) async throws -> [ReceivedMessage] {
        try await subscribe(
            to: endpoint,
            topics: [topic],
            qos: qos,
            count: count,
            timeout: timeout,
            clientID: clientID,
            cleanSession: cleanSession
        )
    }

    // MARK: Output parsing

    /// Starts every message line; debug lines start with "Client " or "Subscribed".
    static let messagePrefix = "RIVVEN-MSG "

    /// Parses "RIVVEN-MSG <qos> <retain> <length> <hex payload> <topic>" (topic last: it may contain
    /// spaces; a topic containing a newline is not supported).
    static func parseMessageLine(_ line: String) -> ReceivedMessage? {
        guard line.hasPrefix(messagePrefix) else { return nil }
        let fields = line.dropFirst(messagePrefix.count).split(
            separator: " ",
            maxSplits: 4,
            omittingEmptySubsequences: false
        )
        guard fields.count == 5, let qos = Int(fields[0]), let length = Int(fields[2]),
            let payload = decodeHex(fields[3]), payload.count == length
        else { return nil }
        return ReceivedMessage(topic: String(fields[4]), payload: payload, qos: qos, retained: fields[1] == "1")
    }

    private static func decodeHex(_ hex: Substring) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}
