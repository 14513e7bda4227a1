/// A writer that discards every batch and every sync at once: the local log's whole code path (framing, batching,
/// acknowledgements, segment bookkeeping) without disk I/O. `rivven-mqtt bench --sink null` uses it to measure the
/// gateway minus the disk; the segment files it leaves are empty, so such a log directory is scratch only.
package final class NullFileWriter: DurableFileWriter {
    package let kind = "null"

    /// Creates the writer.
    package init() {}

    package func write(_ bytes: UnsafeRawBufferPointer, to fd: Int32, at offset: Int64, sync: Bool) throws(WriterError)
    {}

    package func sync(_ fd: Int32) throws(WriterError) {}
}
