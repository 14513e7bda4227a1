import Glibc
public import Logging
import Synchronization

/// What a connection reports to its owner (on the connection's thread).
public enum MQTTConnectionEvent: Sendable {
    /// CONNACK accepted.
    case connected(sessionPresent: Bool)
    /// Every filter was granted (possibly downgraded).
    case subscribed(granted: [Int])
    /// The connection dropped; the driver reconnects.
    case disconnected(reason: String)
    /// An error the connection cannot recover from; the thread has stopped.
    case fatal(MQTTError)
}

/// One MQTT connection driven by a thread of its own (SPEC §1): libmosquitto in threaded mode, polled by this
/// driver, which reads, keeps the connection alive, reconnects with backoff + full jitter, re-subscribes when the
/// broker has no session, and releases queued packets (PUBACKs) only when the handler reports them durable.
public final class MQTTConnection: @unchecked Sendable {
    // @unchecked: mutable state below is touched only by the driver thread, except the atomics and the wake fd,
    // which are the only things other threads use.

    private let configuration: MQTTConfiguration
    private let index: Int
    private let handler: any MQTTMessageHandler
    private let counters: IngestCounters
    private let logger: Logger
    private let onEvent: @Sendable (MQTTConnectionEvent) -> Void
    private let wakePipe = WakePipe()

    private let stopRequested = Atomic<Bool>(false)
    private let connectedFlag = Atomic<Bool>(false)
    private let subscribedFlag = Atomic<Bool>(false)

    // Driver-thread state.
    private var client: MosquittoClient?
    private var thread: DriverThread?
    private var awaitingConnack = false
    private var connectDeadline = ContinuousClock.now
    private var subscribedOnce = false
    private var pendingSubscribeID: Int?
    private var consecutiveFailures = 0
    private var lastLoggedFailure: String?
    private var lastErrorLog: String?
    private var connackFailure: String?
    private var fatalError: MQTTError?
    private var rng = SystemRandomNumberGenerator()
    /// Whether the last read delivered a message (then reading again at once likely finds more).
    private var deliveredInRead = false

    /// Whether a CONNACK was accepted and the connection is up.
    public var isConnected: Bool { connectedFlag.load(ordering: .acquiring) }
    /// Whether every filter is subscribed on the current connection.
    public var isSubscribed: Bool { subscribedFlag.load(ordering: .acquiring) }

    /// Creates a connection; nothing happens until `start()`.
    public init(
        configuration: MQTTConfiguration,
        index: Int = 0,
        handler: any MQTTMessageHandler,
        counters: IngestCounters,
        logger: Logger,
        onEvent: @escaping @Sendable (MQTTConnectionEvent) -> Void
    ) {
        self.configuration = configuration
        self.index = index
        self.handler = handler
        self.counters = counters
        var logger = logger
        logger[metadataKey: "mqtt.client_id"] = "\(configuration.clientID(forConnection: index))"
        self.logger = logger
        self.onEvent = onEvent
    }

    /// libmosquitto options for this connection.
    static func mosquittoOptions(_ c: MQTTConfiguration, index: Int) -> MosquittoOptions {
        let version: MosquittoOptions.ProtocolVersion
        switch c.protocolVersion {
        case .v3: version = .v31
        case .v311: version = .v311
        case .v5: version = .v5
        }
        return MosquittoOptions(
            clientID: c.clientID(forConnection: index),
            cleanSession: c.cleanSession,
            host: c.brokerURL.host,
            port: c.brokerURL.port,
            keepAliveSeconds: c.keepAliveSecs,
            protocolVersion: version,
            username: c.username,
            password: c.password?.value,
            useTLS: c.brokerURL.useTLS,
            caFile: c.tls.caCert,
            certFile: c.tls.clientCert,
            keyFile: c.tls.clientKey,
            tlsInsecure: c.tls.insecure,
            receiveMaximum: c.maxInflight,
            will: c.lastWill.map {
                MosquittoOptions.Will(
                    topic: $0.topic,
                    payload: $0.message,
                    qos: Int($0.qos.rawValue),
                    retain: $0.retain
                )
            }
        )
    }

    /// Starts the driver thread.
    public func start() throws(MQTTError) {
        let client = try MosquittoClient(options: Self.mosquittoOptions(configuration, index: index))
        self.client = client
        client.delegate = self
        thread = DriverThread(name: "mqtt-\(index)") { [self] in self.run() }
    }

    /// Asks the driver to stop: it stops reading, lets the handler commit, flushes acknowledgements and sends
    /// DISCONNECT (so the will does not fire). Returns at once; `join()` waits.
    public func stop() {
        stopRequested.store(true, ordering: .releasing)
        wake()
    }

    /// Wakes the driver from its poll (e.g. when the writer made messages durable).
    public func wake() {
        wakePipe.signal()
    }

    /// Waits for the driver thread to end.
    public func join() {
        thread?.join()
        thread = nil
    }

    // MARK: - Driver thread

    private func run() {
        guard let client else { return }
        attemptConnect(client, first: true)
        while !stopRequested.load(ordering: .acquiring) && fatalError == nil {
            let socket = client.socket
            if socket < 0 || (awaitingConnack && ContinuousClock.now >= connectDeadline) {
                if socket >= 0 {
                    recordFailure("no CONNACK within \(configuration.connectTimeoutSecs) s from \(brokerText)")
                }
                if !waitBeforeReconnect() { break }
                attemptConnect(client, first: false)
                continue
            }
            let durable = handler.commit()
            let read = handler.canAcceptMore
            // The writer wakes this thread when it made messages durable; the short timeout while acknowledgements
            // or room are awaited bounds the wait should a wake-up be missed.
            let timeout: Int32 = (client.wantsWrite && !durable) || !read ? 2 : 100
            deliveredInRead = false
            // The closure is passed directly (non-escaping): no context is allocated per turn.
            if client.service(
                allowRead: read,
                allowWrite: durable,
                timeoutMilliseconds: timeout,
                wakeFD: wakePipe.readFD,
                readMore: {
                    defer { deliveredInRead = false }
                    if !deliveredInRead { handler.socketDrained() }
                    return deliveredInRead && handler.canAcceptMore
                }
            ) {
                wakePipe.drain()
            }
        }
        shutDown(client)
        if let fatalError {
            onEvent(.fatal(fatalError))
        }
    }

    private var brokerText: String { configuration.brokerURL.original }

    private func attemptConnect(_ client: MosquittoClient, first: Bool) {
        lastErrorLog = nil
        connackFailure = nil
        if !first { IngestCounters.bump(counters.reconnects) }
        let rc = first ? client.connect() : client.reconnect()
        if rc.isSuccess {
            awaitingConnack = true
            connectDeadline = ContinuousClock.now + .seconds(configuration.connectTimeoutSecs)
        } else {
            // A TLS failure during the blocking connect is detailed only by the library's log (OpenSSL's reason).
            let detail = lastErrorLog.map { "\(rc) \($0)" } ?? "\(rc)"
            recordFailure("cannot connect to \(brokerText): \(detail)", severe: lastErrorLog != nil)
        }
    }

    /// Counts one failed attempt, logs it once per distinct reason, and gives up after `max_reconnect_attempts`.
    private func recordFailure(_ reason: String, severe: Bool = false) {
        awaitingConnack = false
        consecutiveFailures += 1
        IngestCounters.bump(counters.errors)
        if reason != lastLoggedFailure {
            // TLS and authentication failures will not fix themselves: they are errors, not warnings.
            logger.log(
                level: severe ? .error : .warning,
                "MQTT connection failed; retrying with backoff",
                metadata: ["mqtt.reason": "\(reason)", "mqtt.attempts_in_a_row": "\(consecutiveFailures)"]
            )
            lastLoggedFailure = reason
        } else {
            logger.debug("MQTT connection failed again", metadata: ["mqtt.reason": "\(reason)"])
        }
        let limit = configuration.maxReconnectAttempts
        if limit > 0 && consecutiveFailures >= limit {
            fatalError = MQTTError(
                .gaveUp,
                "gave up after \(consecutiveFailures) failed connection attempts in a row "
                    + "(config max_reconnect_attempts: \(limit)); last error: \(reason)"
            )
        }
    }

    /// Sleeps the backoff delay, interruptible by `stop()`. Returns false when stopping.
    private func waitBeforeReconnect() -> Bool {
        if fatalError != nil { return false }
        let backoff = Backoff(configuration)
        let delay = backoff.delay(forAttempt: max(0, consecutiveFailures - 1), using: &rng)
        let deadline = ContinuousClock.now + delay
        while !stopRequested.load(ordering: .acquiring) {
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { return true }
            let ms = Int32(
                clamping: remaining.wholeMilliseconds
                    + 1
            )
            wakePipe.wait(timeoutMilliseconds: min(ms, 1000))
        }
        return false
    }

    private func shutDown(_ client: MosquittoClient) {
        // Let the handler make everything durable, then release acknowledgements and say goodbye.
        let deadline = ContinuousClock.now + .seconds(5)
        while !handler.commit() && ContinuousClock.now < deadline {
            wakePipe.wait(timeoutMilliseconds: 2)
        }
        guard client.socket >= 0, connectedFlag.load(ordering: .acquiring) else { return }
        // libmosquitto closes its socket right after writing DISCONNECT. Under load, messages the broker sent after
        // we stopped reading are still unread then, and closing a socket with unread data sends a TCP reset: the
        // broker drops the PUBACKs and the DISCONNECT it has not read yet, and fires the will. A duplicate of the
        // descriptor keeps the connection open past that close; it then sends FIN after the DISCONNECT and reads
        // (and discards) until the broker closes its side, so the connection ends cleanly.
        let lingering = dup(client.socket)
        _ = client.disconnect()
        let flushDeadline = ContinuousClock.now + .seconds(3)
        while client.socket >= 0 && client.wantsWrite && ContinuousClock.now < flushDeadline {
            var fd = pollfd(fd: client.socket, events: Int16(POLLOUT), revents: 0)
            if poll(&fd, 1, 50) > 0 {
                if !client.loopWrite().isSuccess { break }
            }
        }
        if lingering >= 0 {
            if client.socket < 0 { Self.finishClose(lingering, deadline: ContinuousClock.now + .seconds(2)) }
            close(lingering)
        }
        connectedFlag.store(false, ordering: .releasing)
        subscribedFlag.store(false, ordering: .releasing)
    }
}

extension MQTTConnection {
    /// After DISCONNECT was written on `fd` (a duplicate of libmosquitto's closed socket): half-close, then read and
    /// discard until the broker closes (end of stream), an error, or `deadline`.
    fileprivate static func finishClose(_ fd: Int32, deadline: ContinuousClock.Instant) {
        _ = shutdown(fd, Int32(SHUT_WR))
        var scratch = [UInt8](repeating: 0, count: 16 * 1024)
        while ContinuousClock.now < deadline {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 50) >= 0 else { return }
            if descriptor.revents == 0 { continue }
            let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count == 0 { return }
            if count < 0 && errno != EAGAIN && errno != EINTR { return }
        }
    }
}

extension MQTTConnection: MosquittoClientDelegate {
    package func mosquittoDidConnect(code: Int, description: String, sessionPresent: Bool) {
        awaitingConnack = false
        guard code == 0 else {
            connackFailure = "broker \(brokerText) refused the connection: \(description) (CONNACK code \(code))"
            return
        }
        IngestCounters.bump(counters.connections)
        connectedFlag.store(true, ordering: .releasing)
        // Connected: library log lines are no longer needed (TLS is established) and would cost a formatted
        // allocation per packet.
        client?.setLibraryLogging(false)
        logger.info(
            "MQTT connected",
            metadata: ["mqtt.broker": "\(brokerText)", "mqtt.session_present": "\(sessionPresent)"]
        )
        consecutiveFailures = 0
        lastLoggedFailure = nil
        onEvent(.connected(sessionPresent: sessionPresent))
        // The broker keeps subscriptions only in a present session; on the first connection subscribe anyway so a
        // changed filter list takes effect.
        if !sessionPresent || !subscribedOnce {
            subscribe()
        } else {
            subscribedFlag.store(true, ordering: .releasing)
        }
    }

    private func subscribe() {
        guard let client else { return }
        switch client.subscribe(configuration.subscriptionFilters, qos: Int(configuration.qos.rawValue)) {
        case .success(let mid):
            pendingSubscribeID = mid
        case .failure(let error):
            fatalError = error
        }
    }

    package func mosquittoDidSubscribe(messageID: Int, granted: [Int]) {
        guard messageID == pendingSubscribeID else { return }
        pendingSubscribeID = nil
        let filters = configuration.subscriptionFilters
        let requested = Int(configuration.qos.rawValue)
        for (i, value) in granted.enumerated() {
            let filter = i < filters.count ? filters[i] : "?"
            if value >= 0x80 {
                fatalError = MQTTError(
                    .subscriptionRefused,
                    "broker \(brokerText) refused the subscription to '\(filter)' (SUBACK 0x\(String(value, radix: 16))); "
                        + "check the broker's ACL for this client/user"
                )
                IngestCounters.bump(counters.errors)
                return
            }
            if value < requested {
                IngestCounters.bump(counters.qosDowngrades)
                logger.warning(
                    "broker granted a lower QoS than requested",
                    metadata: [
                        "mqtt.filter": "\(filter)", "mqtt.requested_qos": "\(requested)",
                        "mqtt.granted_qos": "\(value)",
                    ]
                )
            }
        }
        subscribedOnce = true
        subscribedFlag.store(true, ordering: .releasing)
        logger.info("MQTT subscribed", metadata: ["mqtt.filters": "\(filters)", "mqtt.granted_qos": "\(granted)"])
        onEvent(.subscribed(granted: granted))
    }

    package func mosquittoDidDisconnect(code: Int, description: String) {
        let wasConnected = connectedFlag.exchange(false, ordering: .acquiringAndReleasing)
        client?.setLibraryLogging(true)
        subscribedFlag.store(false, ordering: .releasing)
        pendingSubscribeID = nil
        if stopRequested.load(ordering: .acquiring) && code == 0 { return }
        if wasConnected {
            handler.connectionLost()
            IngestCounters.bump(counters.disconnections)
            let reason = lastErrorLog ?? description
            logger.warning("MQTT connection lost; reconnecting", metadata: ["mqtt.reason": "\(reason)"])
            lastLoggedFailure = nil
            onEvent(.disconnected(reason: reason))
        } else if awaitingConnack || connackFailure != nil || lastErrorLog != nil {
            recordFailure(
                connackFailure ?? tlsOrLogReason(fallback: description),
                severe: connackFailure != nil || lastErrorLog != nil
            )
        }
        awaitingConnack = false
    }

    private func tlsOrLogReason(fallback: String) -> String {
        if let log = lastErrorLog {
            return "\(brokerText): \(log)"
        }
        return "connection to \(brokerText) closed before CONNACK: \(fallback)"
    }

    package func mosquittoDidReceive(
        topic: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        properties: UnsafeRawBufferPointer,
        qos: Int,
        retain: Bool,
        messageID: Int
    ) {
        deliveredInRead = true
        IngestCounters.bump(counters.messagesReceived)
        IngestCounters.bump(counters.bytesReceived, by: UInt64(payload.count))
        handler.handle(
            MQTTInboundMessage(
                topic: topic,
                payload: payload,
                properties: properties,
                qos: UInt8(truncatingIfNeeded: qos),
                retain: retain,
                packetID: messageID,
                connectionIndex: index
            )
        )
    }

    package func mosquittoDidLog(level: MosquittoLogLevel, message: String) {
        switch level {
        case .error:
            // TLS verification failures reach us only as log lines (notes/libmosquitto.md).
            lastErrorLog = message
            logger.debug("libmosquitto error", metadata: ["mqtt.log": "\(message)"])
        case .warning:
            logger.debug("libmosquitto warning", metadata: ["mqtt.log": "\(message)"])
        default:
            break
        }
    }
}
