// A bench tool, not part of the gateway: the connect step the bench's publisher and baseline subscriber share. It
// imports CMosquitto itself so the gateway's client stays untouched; nothing of C leaves this file.
import CMosquitto

/// Connects a bench client's non-threaded libmosquitto handle and waits for its CONNACK.
enum BenchClientConnect {
    /// `mosquitto_connect` to `host:port` (keep-alive 60 s), then `loop()` until `connack()` has a value; a
    /// refusal becomes ``MQTTError/Code/connectionRefused`` naming the broker's reason. `role` names the client in
    /// errors ("bench publisher"). `loop` enforces the caller's deadline.
    static func connect(
        _ handle: OpaquePointer,
        host: String,
        port: Int,
        role: String,
        connack: () -> Int32?,
        loop: () throws(MQTTError) -> Void
    ) throws(MQTTError) {
        let rc = mosquitto_connect(handle, host, Int32(port), 60)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(.connect, "\(role) cannot connect to \(host):\(port): \(MosquittoResult(rc))")
        }
        while connack() == nil {
            try loop()
        }
        if let code = connack(), code != 0 {
            let reason = String(cString: mosquitto_connack_string(code))
            throw MQTTError(.connectionRefused, "broker refused the \(role): \(reason) (CONNACK \(code))")
        }
    }
}
