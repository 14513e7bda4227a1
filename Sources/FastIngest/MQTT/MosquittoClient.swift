// With Forwarder/RivvenTLSStream.swift (which uses only the OpenSSL part of the module), the only file that imports
// CMosquitto (STYLE.md convention 2). Every libmosquitto call, callback and return code is translated here; nothing of
// C leaks past this file.
import CMosquitto
import Glibc

/// Process-wide libmosquitto initialisation and version probe.
package enum MosquittoLibrary {
    private static let initialised: Bool = {
        _ = mosquitto_lib_init()
        return true
    }()

    /// Initialises libmosquitto once per process (idempotent, thread-safe through Swift's lazy globals).
    package static func ensureInitialised() {
        _ = initialised
    }

    /// The linked libmosquitto version as `major.minor.revision`.
    package static var version: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var revision: Int32 = 0
        _ = mosquitto_lib_version(&major, &minor, &revision)
        return "\(major).\(minor).\(revision)"
    }
}

/// Connection options for one libmosquitto handle, in plain Swift types.
package struct MosquittoOptions: Sendable {
    package enum ProtocolVersion: Sendable { case v31, v311, v5 }
    package struct Will: Sendable {
        package var topic: String
        package var payload: [UInt8]
        package var qos: Int
        package var retain: Bool
    }

    package var clientID: String
    package var cleanSession: Bool
    package var host: String
    package var port: Int
    package var keepAliveSeconds: Int
    package var protocolVersion: ProtocolVersion
    package var username: String?
    package var password: String?
    package var useTLS: Bool
    package var caFile: String?
    package var certFile: String?
    package var keyFile: String?
    package var tlsInsecure: Bool
    package var receiveMaximum: Int
    package var will: Will?

    /// The MQTT 5 Session Expiry Interval sent in CONNECT: 0 with a clean session (the session ends with the
    /// connection), otherwise 0xFFFFFFFF, which MQTT 5 defines as "never expires" — what `clean_session: false` means
    /// in MQTT 3.1.1, so a persistent session behaves the same in both versions.
    package var sessionExpiryInterval: UInt32 { cleanSession ? 0 : .max }
}

/// The events a `MosquittoClient` reports, always on the thread that drives the handle.
package protocol MosquittoClientDelegate: AnyObject {
    /// A CONNACK arrived. `code` is 0 on success; `description` is libmosquitto's text for the code.
    func mosquittoDidConnect(code: Int, description: String, sessionPresent: Bool)
    /// The connection closed; `code` 0 means a requested disconnect.
    func mosquittoDidDisconnect(code: Int, description: String)
    /// A SUBACK arrived: one granted QoS (or MQTT 5 reason code ≥ 0x80) per requested filter.
    func mosquittoDidSubscribe(messageID: Int, granted: [Int])
    /// A PUBLISH arrived. The buffers are valid only during the call. `properties` holds its MQTT 5 properties as an
    /// ``MQTTPropertyBlock`` (empty when it has none, and always before MQTT 5).
    func mosquittoDidReceive(
        topic: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        properties: UnsafeRawBufferPointer,
        qos: Int,
        retain: Bool,
        messageID: Int
    )
    /// A library log line (`level` is `MosquittoLogLevel`).
    func mosquittoDidLog(level: MosquittoLogLevel, message: String)
}

/// libmosquitto's log levels that the driver cares about.
package enum MosquittoLogLevel: Sendable {
    case error, warning, notice, info, debug
}

/// A libmosquitto result: success, or the error code with its text and, for `MOSQ_ERR_ERRNO`, the OS error.
package struct MosquittoResult: Sendable, CustomStringConvertible {
    package let code: Int
    package let errno: Int32

    package var isSuccess: Bool { code == Int(MOSQ_ERR_SUCCESS.rawValue) }
    package var isNoConnection: Bool { code == Int(MOSQ_ERR_NO_CONN.rawValue) }

    package var description: String {
        if code == Int(MOSQ_ERR_ERRNO.rawValue) {
            return String(cString: strerror(errno))
        }
        return String(cString: mosquitto_strerror(Int32(code)))
    }

    init(_ rc: Int32) {
        self.code = Int(rc)
        self.errno = rc == Int32(MOSQ_ERR_ERRNO.rawValue) ? Glibc.errno : 0
    }
}

/// Owns one `struct mosquitto *` in threaded mode, driven by the caller's own loop: libmosquitto never starts a
/// thread or writes to the socket by itself, so the owner decides when queued packets (PUBACKs) leave.
package final class MosquittoClient {
    // The handle is created in init, destroyed in deinit, and used only from the driving thread.
    private let handle: OpaquePointer
    private let options: MosquittoOptions
    /// The receiver of events; unowned because the delegate owns this client.
    package unowned(unsafe) var delegate: (any MosquittoClientDelegate)?
    /// The current message's properties as an `MQTTPropertyBlock`, rebuilt for every message in place (it grows only
    /// when a message carries more property bytes than any before).
    private var propertyBlock: [UInt8] = []

    /// Creates and configures the handle. Throws a description of the first option libmosquitto rejected.
    package init(options: MosquittoOptions) throws(MQTTError) {
        MosquittoLibrary.ensureInitialised()
        guard let handle = mosquitto_new(options.clientID, options.cleanSession, nil) else {
            throw MQTTError(.configuration, "libmosquitto could not create a client (out of memory or bad client id)")
        }
        self.handle = handle
        self.options = options
        propertyBlock.reserveCapacity(4096)
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        try configure()
    }

    deinit {
        mosquitto_destroy(handle)
    }

    private func check(_ rc: Int32, _ what: String) throws(MQTTError) {
        let result = MosquittoResult(rc)
        guard result.isSuccess else {
            throw MQTTError(.configuration, "\(what): \(result)")
        }
    }

    private func configure() throws(MQTTError) {
        try check(mosquitto_threaded_set(handle, true), "threaded mode")
        let version: Int32
        switch options.protocolVersion {
        case .v31: version = Int32(MQTT_PROTOCOL_V31)
        case .v311: version = Int32(MQTT_PROTOCOL_V311)
        case .v5: version = Int32(MQTT_PROTOCOL_V5)
        }
        try check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, version), "protocol version")
        if options.protocolVersion == .v5 {
            try check(
                mosquitto_int_option(handle, MOSQ_OPT_RECEIVE_MAXIMUM, Int32(options.receiveMaximum)),
                "receive maximum"
            )
        }
        try check(mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1), "TCP_NODELAY")
        if options.username != nil || options.password != nil {
            try check(mosquitto_username_pw_set(handle, options.username, options.password), "username/password")
        }
        if options.useTLS {
            if options.caFile == nil {
                // No CA configured: verify against the system's trust store.
                try check(mosquitto_int_option(handle, MOSQ_OPT_TLS_USE_OS_CERTS, 1), "system CA certificates")
            }
            if options.caFile != nil || options.certFile != nil {
                try check(
                    mosquitto_tls_set(handle, options.caFile, nil, options.certFile, options.keyFile, nil),
                    "TLS files (ca_cert \(options.caFile ?? "-"), client_cert \(options.certFile ?? "-"), "
                        + "client_key \(options.keyFile ?? "-"))"
                )
            }
            // Peer certificate verification always stays on; `insecure` only skips the hostname check.
            try check(mosquitto_tls_opts_set(handle, 1, nil, nil), "TLS verification")
            try check(mosquitto_tls_insecure_set(handle, options.tlsInsecure), "TLS insecure")
        }
        if let will = options.will {
            let rc = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set(
                    handle,
                    will.topic,
                    Int32(bytes.count),
                    bytes.baseAddress,
                    Int32(will.qos),
                    will.retain
                )
            }
            try check(rc, "last will")
        }
        mosquitto_connect_with_flags_callback_set(handle) { _, userdata, rc, flags in
            guard let client = MosquittoClient.from(userdata) else { return }
            let text = String(cString: client.connackText(Int32(rc)))
            client.delegate?.mosquittoDidConnect(code: Int(rc), description: text, sessionPresent: flags & 1 != 0)
        }
        mosquitto_disconnect_callback_set(handle) { _, userdata, rc in
            guard let client = MosquittoClient.from(userdata) else { return }
            client.delegate?.mosquittoDidDisconnect(code: Int(rc), description: MosquittoResult(rc).description)
        }
        mosquitto_subscribe_callback_set(handle) { _, userdata, mid, count, granted in
            guard let client = MosquittoClient.from(userdata) else { return }
            let values = (0..<Int(count)).map { Int(granted![$0]) }
            client.delegate?.mosquittoDidSubscribe(messageID: Int(mid), granted: values)
        }
        // The v5 callback runs for every protocol version; before MQTT 5 its property list is always nil.
        mosquitto_message_v5_callback_set(handle) { _, userdata, message, properties in
            guard let client = MosquittoClient.from(userdata), let message else { return }
            client.deliver(message.pointee, properties: properties)
        }
        setLibraryLogging(true)
    }

    private func deliver(_ m: mosquitto_message, properties: OpaquePointer?) {
        propertyBlock.removeAll(keepingCapacity: true)
        if let properties { collect(properties) }
        propertyBlock.withUnsafeBytes { block in
            delegate?.mosquittoDidReceive(
                topic: UnsafeRawBufferPointer(start: m.topic, count: strlen(m.topic)),
                payload: UnsafeRawBufferPointer(start: m.payload, count: Int(m.payloadlen)),
                properties: block,
                qos: Int(m.qos),
                retain: m.retain,
                messageID: Int(m.mid)
            )
        }
    }

    /// Serialises the PUBLISH properties the gateway keeps into `propertyBlock`, in arrival order (user properties
    /// keep their order and duplicates; a repeated single-valued property, a protocol error, keeps its first value).
    ///
    /// Integers are read in place. libmosquitto's API hands out string and binary values only as `malloc`ed copies
    /// (freed at once here): that is the one per-message allocation, paid only by messages that carry such a
    /// property, on top of the allocations libmosquitto makes for every message it parses.
    private func collect(_ list: OpaquePointer) {
        var seen: UInt8 = 0
        var property: OpaquePointer? = list
        while let current = property {
            property = mosquitto_property_next(current)
            let identifier = mosquitto_property_identifier(current)
            switch identifier {
            case Self.userProperty:
                var name: UnsafeMutablePointer<CChar>?
                var value: UnsafeMutablePointer<CChar>?
                defer {
                    free(name)
                    free(value)
                }
                guard mosquitto_property_read_string_pair(current, identifier, &name, &value, false) != nil,
                    let name, let value
                else { continue }
                // MQTT strings cannot hold U+0000 (libmosquitto rejects a packet that has one): strlen is exact.
                MQTTPropertyBlock.appendUserProperty(
                    name: UnsafeRawBufferPointer(start: name, count: strlen(name)),
                    value: UnsafeRawBufferPointer(start: value, count: strlen(value)),
                    to: &propertyBlock
                )
            case Self.contentType, Self.responseTopic:
                guard first(identifier, &seen) else { continue }
                var value: UnsafeMutablePointer<CChar>?
                defer { free(value) }
                guard mosquitto_property_read_string(current, identifier, &value, false) != nil, let value else {
                    continue
                }
                let bytes = UnsafeRawBufferPointer(start: value, count: strlen(value))
                if identifier == Self.contentType {
                    MQTTPropertyBlock.appendContentType(bytes, to: &propertyBlock)
                } else {
                    MQTTPropertyBlock.appendResponseTopic(bytes, to: &propertyBlock)
                }
            case Self.correlationData:
                guard first(identifier, &seen) else { continue }
                var value: UnsafeMutableRawPointer?
                var length: UInt16 = 0
                defer { free(value) }
                guard mosquitto_property_read_binary(current, identifier, &value, &length, false) != nil, let value
                else { continue }
                MQTTPropertyBlock.appendCorrelationData(
                    UnsafeRawBufferPointer(start: value, count: Int(length)),
                    to: &propertyBlock
                )
            case Self.messageExpiryInterval:
                var seconds: UInt32 = 0
                guard first(identifier, &seen),
                    mosquitto_property_read_int32(current, identifier, &seconds, false) != nil
                else { continue }
                MQTTPropertyBlock.appendMessageExpiryInterval(seconds, to: &propertyBlock)
            case Self.payloadFormatIndicator:
                var indicator: UInt8 = 0
                guard first(identifier, &seen),
                    mosquitto_property_read_byte(current, identifier, &indicator, false) != nil
                else { continue }
                MQTTPropertyBlock.appendPayloadFormatIndicator(indicator, to: &propertyBlock)
            default:
                continue  // topic alias, subscription identifier: transport details, not message data
            }
        }
    }

    /// Marks `identifier` (a property id below 32) as seen; false when it was seen before.
    private func first(_ identifier: Int32, _ seen: inout UInt8) -> Bool {
        let bit: UInt8
        switch identifier {
        case Self.contentType: bit = 1
        case Self.responseTopic: bit = 2
        case Self.correlationData: bit = 4
        case Self.messageExpiryInterval: bit = 8
        default: bit = 16
        }
        defer { seen |= bit }
        return seen & bit == 0
    }

    private static let userProperty = Int32(MQTT_PROP_USER_PROPERTY.rawValue)
    private static let contentType = Int32(MQTT_PROP_CONTENT_TYPE.rawValue)
    private static let responseTopic = Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue)
    private static let correlationData = Int32(MQTT_PROP_CORRELATION_DATA.rawValue)
    private static let messageExpiryInterval = Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue)
    private static let payloadFormatIndicator = Int32(MQTT_PROP_PAYLOAD_FORMAT_INDICATOR.rawValue)

    /// Installs or removes the library's log callback. With a callback installed libmosquitto formats (malloc +
    /// vsnprintf) a debug line for every packet, so the driver keeps it only while connecting, where TLS failures
    /// are reported nowhere else.
    package func setLibraryLogging(_ enabled: Bool) {
        guard enabled else {
            mosquitto_log_callback_set(handle, nil)
            return
        }
        mosquitto_log_callback_set(handle) { _, userdata, level, text in
            guard let client = MosquittoClient.from(userdata), let text else { return }
            let mapped: MosquittoLogLevel
            switch Int32(level) {
            case MOSQ_LOG_ERR: mapped = .error
            case MOSQ_LOG_WARNING: mapped = .warning
            default: return  // notice/info/debug lines are not used
            }
            client.delegate?.mosquittoDidLog(level: mapped, message: String(cString: text))
        }
    }

    private static func from(_ userdata: UnsafeMutableRawPointer?) -> MosquittoClient? {
        guard let userdata else { return nil }
        return Unmanaged<MosquittoClient>.fromOpaque(userdata).takeUnretainedValue()
    }

    private func connackText(_ code: Int32) -> UnsafePointer<CChar> {
        options.protocolVersion == .v5 ? mosquitto_reason_string(code) : mosquitto_connack_string(code)
    }

    /// Opens the TCP (and TLS) connection and queues CONNECT. Blocking for name resolution and TCP connect.
    ///
    /// With MQTT 5 the CONNECT carries Session Expiry Interval (``MosquittoOptions/sessionExpiryInterval``) and
    /// Receive Maximum (`receiveMaximum`, the broker's in-flight window towards this client). libmosquitto keeps a
    /// copy of these properties and sends them again on every `reconnect()`.
    package func connect() -> MosquittoResult {
        let host = options.host
        let port = Int32(options.port)
        let keepAlive = Int32(options.keepAliveSeconds)
        guard options.protocolVersion == .v5 else {
            return MosquittoResult(mosquitto_connect(handle, host, port, keepAlive))
        }
        var properties: OpaquePointer?
        defer { mosquitto_property_free_all(&properties) }
        let expiry = mosquitto_property_add_int32(
            &properties,
            Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue),
            options.sessionExpiryInterval
        )
        guard expiry == Int32(MOSQ_ERR_SUCCESS.rawValue) else { return MosquittoResult(expiry) }
        let receiveMaximum = mosquitto_property_add_int16(
            &properties,
            Int32(MQTT_PROP_RECEIVE_MAXIMUM.rawValue),
            UInt16(clamping: options.receiveMaximum)
        )
        guard receiveMaximum == Int32(MOSQ_ERR_SUCCESS.rawValue) else { return MosquittoResult(receiveMaximum) }
        return MosquittoResult(mosquitto_connect_bind_v5(handle, host, port, keepAlive, nil, properties))
    }

    /// Re-opens the connection with the same options (and MQTT 5 CONNECT properties). Held (unsent) packets are
    /// dropped by libmosquitto.
    package func reconnect() -> MosquittoResult {
        MosquittoResult(mosquitto_reconnect(handle))
    }

    /// Queues DISCONNECT (the will is then discarded by the broker).
    package func disconnect() -> MosquittoResult {
        MosquittoResult(mosquitto_disconnect(handle))
    }

    /// Queues one SUBSCRIBE for all `filters` at `qos`; returns the message id or the failure.
    package func subscribe(_ filters: [String], qos: Int) -> Result<Int, MQTTError> {
        var mid: Int32 = 0
        let cStrings = filters.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let rc = cStrings.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: UnsafeMutablePointer<CChar>?.self) { pointers in
                mosquitto_subscribe_multiple(
                    handle,
                    &mid,
                    Int32(filters.count),
                    pointers.baseAddress,
                    Int32(qos),
                    0,
                    nil
                )
            }
        }
        let result = MosquittoResult(rc)
        guard result.isSuccess else {
            return .failure(MQTTError(.subscribe, "SUBSCRIBE \(filters) could not be queued: \(result)"))
        }
        return .success(Int(mid))
    }

    /// The socket to poll, or -1 when not connected. Changes on every reconnect.
    package var socket: Int32 { mosquitto_socket(handle) }

    /// Whether libmosquitto has queued packets (or a TLS handshake) waiting for the socket to be writable.
    package var wantsWrite: Bool { mosquitto_want_write(handle) }

    /// Reads and handles available packets; callbacks run inside.
    package func loopRead() -> MosquittoResult { MosquittoResult(mosquitto_loop_read(handle, 1)) }

    /// Writes queued packets in FIFO order (this is what releases held PUBACKs).
    package func loopWrite() -> MosquittoResult { MosquittoResult(mosquitto_loop_write(handle, 1)) }

    /// Keep-alive bookkeeping: queues PINGREQ, closes a connection whose broker went silent.
    package func loopMisc() -> MosquittoResult { MosquittoResult(mosquitto_loop_misc(handle)) }

    /// One turn of the driver loop: waits up to `timeoutMilliseconds` for the socket (and `wakeFD`, if any), reads
    /// what arrived when `allowRead` (callbacks run inside; `readMore` is asked after each read whether to read
    /// again at once), writes queued packets only when `allowWrite`, and keeps the connection
    /// alive. A failure has already closed the socket and called `mosquittoDidDisconnect`. Returns whether
    /// `wakeFD` was readable. Allocates nothing.
    @discardableResult
    package func service(
        allowRead: Bool = true,
        allowWrite: Bool,
        timeoutMilliseconds: Int32,
        wakeFD: Int32 = -1,
        readMore: () -> Bool = { false }
    ) -> Bool {
        guard self.socket >= 0 else { return false }
        // Held packets that may leave go out before waiting: the socket is nearly always writable, so a poll for
        // POLLOUT first would cost a system call per release. A write that would block leaves the rest queued.
        if allowWrite && wantsWrite {
            guard loopWrite().isSuccess else { return false }
        }
        let socket = self.socket
        guard socket >= 0 else { return false }
        let writeEvents = allowWrite && wantsWrite ? Int16(POLLOUT) : 0
        let readEvents = allowRead ? Int16(POLLIN) : 0
        var fds = (
            pollfd(fd: socket, events: readEvents | writeEvents, revents: 0),
            pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
        )
        let ready = withUnsafeMutablePointer(to: &fds) { pointer in
            pointer.withMemoryRebound(to: pollfd.self, capacity: 2) {
                poll($0, wakeFD >= 0 ? 2 : 1, timeoutMilliseconds)
            }
        }
        guard ready > 0 else {
            _ = loopMisc()
            return false
        }
        // Write before read: `allowWrite` was decided for the packets queued before this turn. Reading queues the
        // PUBACKs of new messages, which must wait for the next turn's durability check.
        if fds.0.revents & Int16(POLLOUT) != 0 {
            guard loopWrite().isSuccess else { return fds.1.revents != 0 }
        }
        // POLLERR/POLLHUP arrive even when not asked for; reading then surfaces the error and closes the socket.
        if self.socket >= 0 && fds.0.revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
            guard loopRead().isSuccess else { return fds.1.revents != 0 }
            // libmosquitto reads about one packet per call; keep reading while packets keep coming (and the caller
            // can take them) instead of paying a poll per message. A call that finds no data costs one read.
            var budget = 63
            while budget > 0 && self.socket >= 0 && readMore() {
                guard loopRead().isSuccess else { return fds.1.revents != 0 }
                budget -= 1
            }
        }
        if self.socket >= 0 { _ = loopMisc() }
        return wakeFD >= 0 && fds.1.revents != 0
    }
}
