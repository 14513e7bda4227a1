// A bench tool, not part of the gateway: the plain libmosquitto subscriber `rivven-mqtt bench --baseline` measures
// the gateway against. It imports CMosquitto itself so the gateway's client stays untouched; its handle goes only to
// BenchClientConnect, the connect step it shares with the bench publisher.
import CMosquitto
import Glibc

/// The baseline subscriber of `rivven-mqtt bench`, modelled on the baseline harness's `mqsub`: one libmosquitto
/// handle in non-threaded mode, driven by the calling thread with `mosquitto_loop`, MQTT 3.1.1. It acknowledges
/// QoS 1/2 messages as libmosquitto does by itself (at once, before the message is handed over), and stores
/// nothing: what it costs is the floor any subscriber pays.
///
/// Threading: use it from one thread only; it is not `Sendable`.
package final class MosquittoCountingSubscriber {
    /// What the subscriber does with its session.
    package enum Mode: Sendable {
        /// Clean session: subscribe, then receive.
        case clean
        /// Persistent session (`clean_session` false): subscribe, then disconnect at once, leaving an offline session
        /// in which the broker queues what is published meanwhile.
        case persist
        /// Persistent session that exists already (``persist``): connect without subscribing and receive the backlog.
        case drain
    }

    /// Where to subscribe, and how.
    package struct Options: Sendable {
        /// The broker's host name or address.
        package var host: String
        /// The broker's plain MQTT port.
        package var port: Int
        /// The client id (the session's, for ``Mode/persist`` and ``Mode/drain``).
        package var clientID: String
        /// The topic filter subscribed to.
        package var filter: String
        /// The QoS subscribed with.
        package var qos: Int
        /// What to do with the session.
        package var mode: Mode

        /// Creates options.
        package init(host: String, port: Int, clientID: String, filter: String, qos: Int, mode: Mode) {
            self.host = host
            self.port = port
            self.clientID = clientID
            self.filter = filter
            self.qos = qos
            self.mode = mode
        }
    }

    // The handle is created in init, destroyed in deinit, and used only by the driving thread.
    private let handle: OpaquePointer
    private let options: Options
    private var connack: Int32?
    private var subscribed = false
    private var granted: Int32 = 0
    private var stopReceiving = false
    private var onMessage: ((UnsafeRawBufferPointer) -> Bool)?
    /// Messages received so far.
    private(set) package var received = 0
    /// When CONNACK arrived (CLOCK_MONOTONIC ns), 0 before.
    private(set) package var connectedAt: Int64 = 0

    /// Creates and configures the handle.
    package init(options: Options) throws(MQTTError) {
        MosquittoLibrary.ensureInitialised()
        guard let handle = mosquitto_new(options.clientID, options.mode == .clean, nil) else {
            throw MQTTError(.configuration, "libmosquitto could not create a subscriber (out of memory?)")
        }
        self.handle = handle
        self.options = options
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        _ = mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, Int32(MQTT_PROTOCOL_V311))
        mosquitto_connect_callback_set(handle) { _, userdata, rc in
            guard let subscriber = MosquittoCountingSubscriber.from(userdata) else { return }
            subscriber.connectedAt = BenchClock.now()
            subscriber.connack = rc
        }
        mosquitto_subscribe_callback_set(handle) { _, userdata, _, count, granted in
            guard let subscriber = MosquittoCountingSubscriber.from(userdata) else { return }
            subscriber.granted = count > 0 ? (granted?[0] ?? 0x80) : 0x80
            subscriber.subscribed = true
        }
        mosquitto_message_callback_set(handle) { _, userdata, message in
            guard let subscriber = MosquittoCountingSubscriber.from(userdata), let message else { return }
            subscriber.received += 1
            let payload = UnsafeRawBufferPointer(start: message.pointee.payload, count: Int(message.pointee.payloadlen))
            if subscriber.onMessage?(payload) == true { subscriber.stopReceiving = true }
        }
    }

    deinit {
        mosquitto_destroy(handle)
    }

    private static func from(_ userdata: UnsafeMutableRawPointer?) -> MosquittoCountingSubscriber? {
        guard let userdata else { return nil }
        return Unmanaged<MosquittoCountingSubscriber>.fromOpaque(userdata).takeUnretainedValue()
    }

    /// Connects and waits for CONNACK, then (``Mode/clean``, ``Mode/persist``) subscribes and waits for SUBACK;
    /// ``Mode/persist`` then disconnects. Gives up at `deadline` (CLOCK_MONOTONIC ns).
    package func connect(deadline: Int64) throws(MQTTError) {
        try BenchClientConnect.connect(
            handle,
            host: options.host,
            port: options.port,
            role: "bench subscriber",
            connack: { connack }
        ) { () throws(MQTTError) in
            try loop(deadline: deadline, waitingFor: "CONNACK")
        }
        guard options.mode != .drain else { return }
        let subscribeRC = mosquitto_subscribe(handle, nil, options.filter, Int32(options.qos))
        guard subscribeRC == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(.subscribe, "bench subscriber: SUBSCRIBE failed: \(MosquittoResult(subscribeRC))")
        }
        while !subscribed {
            try loop(deadline: deadline, waitingFor: "SUBACK")
        }
        if granted >= 0x80 {
            throw MQTTError(.subscriptionRefused, "broker refused the bench subscription to \(options.filter)")
        }
        if options.mode == .persist { disconnect() }
    }

    /// Receives until `onMessage` returns true (it sees each payload, valid only during the call), `shouldStop()`
    /// returns true (asked about every 100 ms), or `deadline` passes (a ``MQTTError/Code/timeout`` error).
    package func receive(
        deadline: Int64,
        shouldStop: () -> Bool,
        onMessage: @escaping (UnsafeRawBufferPointer) -> Bool
    ) throws(MQTTError) {
        self.onMessage = onMessage
        defer { self.onMessage = nil }
        stopReceiving = false
        while !stopReceiving && !shouldStop() {
            try loop(deadline: deadline, waitingFor: "messages")
        }
    }

    /// Sends DISCONNECT (and any acknowledgements still queued) and gives the socket a moment to write them.
    package func disconnect() {
        _ = mosquitto_disconnect(handle)
        var turns = 0
        while turns < 10 && mosquitto_want_write(handle) {
            _ = mosquitto_loop(handle, 10, 1)
            turns += 1
        }
    }

    private func loop(deadline: Int64, waitingFor what: String) throws(MQTTError) {
        let rc = mosquitto_loop(handle, 100, 1)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(
                .connect,
                "bench subscriber lost its connection after \(received) messages: \(MosquittoResult(rc))"
            )
        }
        if BenchClock.now() > deadline {
            throw MQTTError(.timeout, "bench subscriber timed out waiting for \(what) (\(received) received)")
        }
    }
}
