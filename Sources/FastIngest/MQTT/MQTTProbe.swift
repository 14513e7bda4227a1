import Glibc

/// One-shot verification of an MQTT source for `rivven-mqtt check`: CONNECT (TCP, TLS, CONNACK, auth), SUBSCRIBE
/// every filter, compare each granted QoS with the requested one, DISCONNECT.
public struct MQTTProbe {
    /// The outcome of one step.
    public struct Step: Sendable, Equatable {
        /// `connect` or `subscribe <filter>`.
        public var name: String
        /// Whether it passed.
        public var ok: Bool
        /// The reason or the detail (granted QoS, …).
        public var detail: String
    }

    private let configuration: MQTTConfiguration

    /// A probe of `configuration` (connection 0's client id with a `-check` suffix so a running gateway's session
    /// is not taken over).
    public init(configuration: MQTTConfiguration) {
        self.configuration = configuration
    }

    /// Runs the probe; never throws, every failure is a failed step.
    public func run() -> [Step] {
        var options = MQTTConnection.mosquittoOptions(configuration, index: 0)
        options.clientID = Self.probeClientID(options.clientID)
        // A probe never leaves state behind: clean session, no will.
        options.cleanSession = true
        options.will = nil
        let recorder = ProbeRecorder()
        let client: MosquittoClient
        do {
            client = try MosquittoClient(options: options)
        } catch {
            return [Step(name: "connect", ok: false, detail: error.message)]
        }
        client.delegate = recorder
        let broker = configuration.brokerURL.original
        let timeout = Duration.seconds(configuration.connectTimeoutSecs)
        let rc = client.connect()
        guard rc.isSuccess else {
            let detail = recorder.lastError.map { "\(rc) \($0)" } ?? "\(rc)"
            return [Step(name: "connect", ok: false, detail: "cannot connect to \(broker): \(detail)")]
        }
        pump(client, until: { recorder.connack != nil || recorder.closed }, timeout: timeout)
        guard let connack = recorder.connack, connack.code == 0 else {
            let reason: String
            if let connack = recorder.connack {
                reason = "broker \(broker) refused the connection: \(connack.text) (CONNACK code \(connack.code))"
            } else if let log = recorder.lastError {
                reason = "\(broker): \(log)"
            } else if recorder.closed {
                reason = "connection to \(broker) closed before CONNACK: \(recorder.closeReason ?? "unknown")"
            } else {
                reason = "no CONNACK from \(broker) within \(configuration.connectTimeoutSecs) s"
            }
            return [Step(name: "connect", ok: false, detail: reason)]
        }
        var steps = [Step(name: "connect", ok: true, detail: "CONNACK accepted by \(broker)")]
        let filters = configuration.subscriptionFilters
        let probed = filters.map(Self.probeFilter)
        let requested = Int(configuration.qos.rawValue)
        switch client.subscribe(probed, qos: requested) {
        case .failure(let error):
            steps.append(Step(name: "subscribe", ok: false, detail: error.message))
            return steps
        case .success:
            break
        }
        pump(client, until: { recorder.granted != nil || recorder.closed }, timeout: timeout)
        if let granted = recorder.granted {
            for (i, filter) in filters.enumerated() {
                let value = i < granted.count ? granted[i] : 0x80
                let name = "subscribe \(filter)"
                let how = probed[i] == filter ? "" : " (probed as \(probed[i]))"
                if value >= 0x80 {
                    steps.append(
                        Step(
                            name: name,
                            ok: false,
                            detail: "refused by the broker (SUBACK 0x\(String(value, radix: 16)))\(how)"
                        )
                    )
                } else if value < requested {
                    steps.append(
                        Step(
                            name: name,
                            ok: false,
                            detail: "granted QoS \(value), lower than the requested QoS \(requested)\(how)"
                        )
                    )
                } else {
                    steps.append(Step(name: name, ok: true, detail: "granted QoS \(value)\(how)"))
                }
            }
        } else {
            steps.append(
                Step(
                    name: "subscribe",
                    ok: false,
                    detail: "no SUBACK from \(broker) within \(configuration.connectTimeoutSecs) s"
                )
            )
        }
        if client.socket >= 0 {
            _ = client.disconnect()
            pump(client, until: { recorder.closed || !client.wantsWrite }, timeout: .seconds(2))
        }
        return steps
    }

    /// The filter a probe subscribes for `filter`: the same, except that a shared subscription `$share/GROUP/f` is
    /// probed in a group of its own, `$share/GROUP-check/f`. Joining GROUP, the probe would be dealt messages meant
    /// for the running gateways of that group and drop them when it disconnects.
    static func probeFilter(_ filter: String) -> String {
        guard filter.hasPrefix(MQTTTopic.sharePrefix) else { return filter }
        let afterPrefix = filter.dropFirst(MQTTTopic.sharePrefix.count)
        guard let slash = afterPrefix.firstIndex(of: "/") else { return filter }
        return "\(MQTTTopic.sharePrefix)\(afterPrefix[..<slash])-check\(afterPrefix[slash...])"
    }

    /// The client id a probe uses: the configured one plus `-check`, kept within 23 characters where possible.
    static func probeClientID(_ id: String) -> String {
        let suffix = "-check"
        return id.count + suffix.count <= 23 ? id + suffix : String(id.prefix(max(1, 23 - suffix.count))) + suffix
    }

    private func pump(_ client: MosquittoClient, until done: () -> Bool, timeout: Duration) {
        let deadline = ContinuousClock.now + timeout
        while !done() && ContinuousClock.now < deadline && client.socket >= 0 {
            client.service(allowWrite: true, timeoutMilliseconds: 50)
        }
    }
}

private final class ProbeRecorder: MosquittoClientDelegate {
    var connack: (code: Int, text: String)?
    var granted: [Int]?
    var closed = false
    var closeReason: String?
    var lastError: String?

    package func mosquittoDidConnect(code: Int, description: String, sessionPresent: Bool) {
        connack = (code, description)
    }
    package func mosquittoDidDisconnect(code: Int, description: String) {
        closed = true
        closeReason = description
    }
    package func mosquittoDidSubscribe(messageID: Int, granted: [Int]) {
        self.granted = granted
    }
    package func mosquittoDidReceive(
        topic: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        properties: UnsafeRawBufferPointer,
        qos: Int,
        retain: Bool,
        messageID: Int
    ) {}
    package func mosquittoDidLog(level: MosquittoLogLevel, message: String) {
        if level == .error { lastError = message }
    }
}
