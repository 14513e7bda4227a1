// A bench tool, not part of the gateway: `rivven-mqtt bench`'s load generator. It imports CMosquitto itself so the
// gateway's client (MosquittoClient.swift, threaded mode with held acknowledgements) stays untouched; its handle goes
// only to BenchClientConnect, the connect step it shares with the baseline subscriber.
import CMosquitto
import Glibc

/// A flood publisher for `rivven-mqtt bench`, modelled on the baseline harness's `mqpub`: one libmosquitto handle in
/// non-threaded mode, driven by the calling thread with `mosquitto_loop`, MQTT 3.1.1, Nagle on (libmosquitto's
/// default). At most `window` messages are outstanding: for QoS 1/2 not yet acknowledged (PUBACK/PUBCOMP), for
/// QoS 0 not yet written to the socket (TCP backpressure, bounded memory).
///
/// Threading: use it from one thread only; it is not `Sendable`.
package final class MosquittoPublisher {
    /// Where and how to publish.
    package struct Options: Sendable {
        /// The broker's host name or address.
        package var host: String
        /// The broker's plain MQTT port.
        package var port: Int
        /// The client id (clean session).
        package var clientID: String
        /// The QoS of every message.
        package var qos: Int
        /// Messages outstanding at most (also libmosquitto's own in-flight limit, capped at 65535).
        package var window: Int
        /// TCP_NODELAY on the socket (Nagle off): each PUBLISH leaves at once instead of waiting for the previous
        /// segment's acknowledgement.
        package var tcpNoDelay: Bool

        /// Creates options.
        package init(host: String, port: Int, clientID: String, qos: Int, window: Int, tcpNoDelay: Bool = false) {
            self.host = host
            self.port = port
            self.clientID = clientID
            self.qos = qos
            self.window = max(1, window)
            self.tcpNoDelay = tcpNoDelay
        }
    }

    // The handle is created in init, destroyed in deinit, and used only by the driving thread.
    private let handle: OpaquePointer
    private let options: Options
    private var connack: Int32?
    /// QoS 0: messages written to the socket; QoS 1/2: messages acknowledged.
    private(set) package var acknowledged = 0
    /// Messages handed to libmosquitto.
    private(set) package var published = 0
    /// Asked between loop turns; when it returns true, the publisher stops with a ``MQTTError/Code/timeout`` error.
    package var cancellation: (() -> Bool)?

    /// Creates and configures the handle.
    package init(options: Options) throws(MQTTError) {
        MosquittoLibrary.ensureInitialised()
        guard let handle = mosquitto_new(options.clientID, true, nil) else {
            throw MQTTError(.configuration, "libmosquitto could not create a publisher (out of memory?)")
        }
        self.handle = handle
        self.options = options
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        _ = mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, Int32(MQTT_PROTOCOL_V311))
        _ = mosquitto_max_inflight_messages_set(handle, UInt32(min(options.window, 65535)))
        if options.tcpNoDelay { _ = mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1) }
        mosquitto_connect_callback_set(handle) { _, userdata, rc in
            guard let userdata else { return }
            Unmanaged<MosquittoPublisher>.fromOpaque(userdata).takeUnretainedValue().connack = rc
        }
        mosquitto_publish_callback_set(handle) { _, userdata, _ in
            guard let userdata else { return }
            Unmanaged<MosquittoPublisher>.fromOpaque(userdata).takeUnretainedValue().acknowledged += 1
        }
    }

    deinit {
        mosquitto_destroy(handle)
    }

    /// Connects and waits for CONNACK until `deadline` (CLOCK_MONOTONIC ns).
    package func connect(deadline: Int64) throws(MQTTError) {
        try BenchClientConnect.connect(
            handle,
            host: options.host,
            port: options.port,
            role: "bench publisher",
            connack: { connack }
        ) { () throws(MQTTError) in
            try loop(timeoutMilliseconds: 100, deadline: deadline, waitingFor: "CONNACK")
        }
    }

    /// Publishes `count` messages to `topic`, then waits until every one is written (QoS 0) or acknowledged.
    ///
    /// Message `i` is due at `start + i * intervalNanoseconds` (`intervalNanoseconds` 0: as fast as the window
    /// allows); the publisher sleeps until then. Before each publish, `fill(i, due, &payload)` writes the payload
    /// (`due` is the due time, or the current time when flooding); `payload` keeps its bytes between calls.
    package func publish(
        count: Int,
        topic: String,
        payload: inout [UInt8],
        start: Int64,
        intervalNanoseconds: Int64,
        deadline: Int64,
        fill: (Int, Int64, inout [UInt8]) -> Void
    ) throws(MQTTError) {
        let window = options.window
        for index in 0..<count {
            // At a fixed rate the publisher may never wait in `loop`: ask here too, every 256 messages.
            if index & 255 == 255 { try checkCancelled() }
            while published - acknowledged >= window {
                try loop(timeoutMilliseconds: 100, deadline: deadline, waitingFor: "acknowledgements")
            }
            var due = BenchClock.now()
            if intervalNanoseconds > 0 {
                let scheduled = start + Int64(index) * intervalNanoseconds
                while due < scheduled {
                    let remaining = scheduled - due
                    if remaining >= 2_000_000 {
                        // Serve the socket (acknowledgements) while waiting; libmosquitto waits in milliseconds.
                        try loop(
                            timeoutMilliseconds: Int32(remaining / 1_000_000) - 1,
                            deadline: deadline,
                            waitingFor: ""
                        )
                    } else {
                        var pause = timespec(tv_sec: 0, tv_nsec: Int(remaining))
                        nanosleep(&pause, nil)
                    }
                    due = BenchClock.now()
                }
                due = scheduled
            }
            fill(index, due, &payload)
            let rc = payload.withUnsafeBytes { bytes in
                mosquitto_publish(
                    handle,
                    nil,
                    topic,
                    Int32(bytes.count),
                    bytes.baseAddress,
                    Int32(options.qos),
                    false
                )
            }
            guard rc == MOSQ_ERR_SUCCESS.rawValue else {
                throw MQTTError(.connect, "bench publisher: PUBLISH failed: \(MosquittoResult(rc))")
            }
            published += 1
        }
        while acknowledged < published {
            try loop(timeoutMilliseconds: 100, deadline: deadline, waitingFor: "the last acknowledgements")
        }
    }

    /// Sends DISCONNECT and gives the socket a moment to write it.
    package func disconnect() {
        _ = mosquitto_disconnect(handle)
        var turns = 0
        while turns < 10 && mosquitto_want_write(handle) {
            _ = mosquitto_loop(handle, 10, 1)
            turns += 1
        }
    }

    private func checkCancelled() throws(MQTTError) {
        if cancellation?() == true {
            throw MQTTError(.timeout, "bench publisher stopped (\(acknowledged) of \(published) acknowledged)")
        }
    }

    private func loop(timeoutMilliseconds: Int32, deadline: Int64, waitingFor what: String) throws(MQTTError) {
        let rc = mosquitto_loop(handle, max(0, timeoutMilliseconds), 1)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(
                .connect,
                "bench publisher lost its connection after \(published) messages: \(MosquittoResult(rc))"
            )
        }
        try checkCancelled()
        if BenchClock.now() > deadline {
            throw MQTTError(
                .timeout,
                "bench publisher timed out waiting for \(what.isEmpty ? "its schedule" : what) "
                    + "(\(acknowledged) of \(published) acknowledged)"
            )
        }
    }
}
