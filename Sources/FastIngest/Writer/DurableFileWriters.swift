import Glibc

/// Chooses the file writer at start-up: ``URingFileWriter`` where io_uring works, otherwise ``PWriteFileWriter`` and
/// the reason (which the service layer logs; this layer does not).
package enum DurableFileWriters {
    /// Set to anything but empty or `0` to force the `pwrite` fallback (CI, or a kernel whose io_uring misbehaves).
    package static let disableVariable = "RIVVEN_MQTT_DISABLE_IO_URING"

    /// The writer to use, probed now (nothing is cached): `RIVVEN_MQTT_DISABLE_IO_URING` is read with `getenv`, and a
    /// ring of `queueDepth` entries is set up and asked for the opcodes the writer needs; that ring then serves the
    /// returned writer.
    /// - Returns: the writer, and why it is the fallback (`nil` for io_uring), e.g.
    ///   `io_uring_queue_init failed: Operation not permitted (errno 1)` or
    ///   `disabled by RIVVEN_MQTT_DISABLE_IO_URING=1`.
    package static func make(
        preferIOURing: Bool,
        queueDepth: UInt32 = 8
    ) -> (writer: any DurableFileWriter, fallbackReason: String?) {
        make(preferIOURing: preferIOURing, queueDepth: queueDepth) { name in
            getenv(name).map { String(cString: $0) }
        }
    }

    /// ``make(preferIOURing:queueDepth:)`` reading the environment through `environment` (tests).
    package static func make(
        preferIOURing: Bool,
        queueDepth: UInt32 = 8,
        environment: (String) -> String?
    ) -> (writer: any DurableFileWriter, fallbackReason: String?) {
        guard preferIOURing else { return (PWriteFileWriter(), "io_uring disabled by configuration") }
        if let value = environment(disableVariable), !value.isEmpty, value != "0" {
            return (PWriteFileWriter(), "disabled by \(disableVariable)=\(value)")
        }
        let ring: URing
        do {
            ring = try URing(entries: queueDepth)
        } catch {
            return (PWriteFileWriter(), error.description)
        }
        if let reason = ring.unsupportedReason(requiring: URingFileWriter.requiredOpcodes) {
            return (PWriteFileWriter(), reason)
        }
        return (URingFileWriter(ring: ring), nil)
    }
}
