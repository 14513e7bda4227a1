/// One PUBLISH as libmosquitto delivered it. The buffers point into libmosquitto's packet and are valid only for
/// the duration of `MQTTMessageHandler.handle(_:)`: a handler copies what it keeps.
public struct MQTTInboundMessage {
    /// The topic name bytes (UTF-8, validated by libmosquitto).
    public var topic: UnsafeRawBufferPointer
    /// The exact payload bytes (may be empty).
    public var payload: UnsafeRawBufferPointer
    /// The MQTT 5 properties the gateway keeps, as an ``MQTTPropertyBlock`` (empty when the message has none, and
    /// always before MQTT 5).
    public var properties: UnsafeRawBufferPointer
    /// The QoS of the delivered PUBLISH (min of publisher and subscription QoS).
    public var qos: UInt8
    /// The retain flag of the delivered PUBLISH.
    public var retain: Bool
    /// The MQTT packet id (0 for QoS 0).
    public var packetID: Int
    /// Which of the source's connections received it (0-based).
    public var connectionIndex: Int
}

/// Receives messages on the MQTT driver thread and tells the driver when held acknowledgements may leave.
///
/// The driver holds every outgoing packet (PUBACK, PUBREC, PINGREQ…) until `commit()` returns `true`, so a QoS 1
/// message is acknowledged only after the handler made it durable.
public protocol MQTTMessageHandler: AnyObject {
    /// Takes one message. Must not block: a handler that cannot take more returns and lets backpressure build.
    func handle(_ message: MQTTInboundMessage)
    /// Makes what was handled so far durable if it can without blocking for long, and returns whether everything
    /// handled so far is durable.
    func commit() -> Bool
    /// Whether the driver may read the next packet. `false` is backpressure: the socket is not read (the broker's
    /// in-flight window and TCP push back) until the handler has room again.
    var canAcceptMore: Bool { get }
    /// The connection dropped: acknowledgements still held are lost with it, so the broker will send those
    /// messages again after the reconnect (duplicates of what the handler already took).
    func connectionLost()
    /// The socket has nothing more to read right now while acknowledgements are held: the broker's in-flight
    /// window is probably full, so waiting longer for more messages to share an fsync only stalls delivery.
    func socketDrained()
}

extension MQTTMessageHandler {
    /// Handlers without a bounded buffer always accept more.
    public var canAcceptMore: Bool { true }
    /// Nothing to do by default.
    public func connectionLost() {}
    /// Nothing to do by default.
    public func socketDrained() {}
}
