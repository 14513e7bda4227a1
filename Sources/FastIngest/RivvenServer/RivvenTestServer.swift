import Glibc
import Synchronization

/// An in-process stand-in for the Rivven broker `rivvend` 0.0.22, speaking its native TCP protocol (WIRE.md) on
/// loopback, for integration tests and benchmarks.
///
/// It keeps topics and records in memory and answers every request a producer or the official client's consumer
/// sends the way rivvend does: same reply variants, same offsets, same error texts (see ``RivvenBroker``). Requests are
/// decoded and replies encoded with the package's codec (`Rivven/`), so the server is as strict as that codec.
///
/// ```swift
/// let server = RivvenTestServer()
/// let port = try server.start()
/// // … point a client at 127.0.0.1:port …
/// server.faults.dropConnection(every: 5, at: .afterHandlingBeforeReply)
/// let stored = server.allRecords(topic: "events")
/// server.stop()
/// ```
///
/// With ``Configuration/tls`` the listener speaks TLS (OpenSSL, through ``RivvenTLSStream``); each connection's thread
/// completes the handshake before serving it.
///
/// Threads: one accepts connections, one serves each connection (plain blocking sockets; under TLS non-blocking ones
/// driven with `poll`). Every method may be called from any thread. After ``stop()`` the stored records stay readable;
/// ``start()`` again behaves like a restarted rivvend: records, topics and committed offsets survive, producer ids,
/// sequences, sessions and sticky partition runs do not, and the server listens on the same port as before unless the
/// configuration names one.
public final class RivvenTestServer: Sendable {
    /// The configuration the server was created with.
    public let configuration: Configuration
    /// Faults to inject, changeable while the server runs.
    public let faults = RivvenServerFaults()

    let broker: RivvenBroker

    private struct Running {
        var listener: Int32
        var port: UInt16
        var acceptThread: DriverThread
        var wake: WakePipe
    }

    private struct Lifecycle {
        var running: Running?
        var lastPort: UInt16?
        var nextConnectionID = 0
        /// Connections being served, by id, with their threads.
        var connections: [Int: (connection: RivvenServerConnection, thread: DriverThread?)] = [:]
        /// Threads of connections that ended, to be joined.
        var finished: [DriverThread] = []
    }

    private let lifecycle = Mutex(Lifecycle())
    private let stopping = Atomic<Bool>(false)

    /// Creates a stopped server. Derives the SCRAM keys of `configuration.users` (PBKDF2) here.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        broker = RivvenBroker(configuration: configuration)
    }

    deinit {
        stop()
    }

    // MARK: Lifecycle

    /// Starts listening and serving; returns the port (the configured one, else the one of the previous run, else a
    /// free one).
    @discardableResult
    public func start() throws(RivvenTestServerError) -> UInt16 {
        try lifecycle.withLock { (lifecycle) throws(RivvenTestServerError) -> UInt16 in
            if lifecycle.running != nil { throw RivvenTestServerError(.alreadyRunning) }
            if let tls = configuration.tls {
                do throws(RivvenStreamError) {
                    try RivvenTLSStream.checkServerFiles(
                        certificatePath: tls.certificatePath,
                        keyPath: tls.keyPath,
                        clientCAPath: tls.clientCAPath
                    )
                } catch {
                    throw RivvenTestServerError(.tls, detail: error.message)
                }
            }
            let wanted = configuration.port != 0 ? configuration.port : (lifecycle.lastPort ?? 0)
            let (listener, port) = try RivvenServerSocket.listen(host: configuration.host, port: wanted)
            if lifecycle.lastPort != nil { broker.simulateRestart() }
            stopping.store(false, ordering: .sequentiallyConsistent)
            broker.stopping.store(false, ordering: .sequentiallyConsistent)
            let wake = WakePipe()
            let thread = DriverThread(name: "rivven-accept") { [self] in
                acceptLoop(listener: listener, wake: wake)
            }
            lifecycle.running = Running(listener: listener, port: port, acceptThread: thread, wake: wake)
            lifecycle.lastPort = port
            return port
        }
    }

    /// Stops accepting, closes every connection and waits for all server threads to end. Does nothing when stopped.
    public func stop() {
        guard
            let running = lifecycle.withLock({ lifecycle -> Running? in
                let running = lifecycle.running
                lifecycle.running = nil
                return running
            })
        else { return }
        stopping.store(true, ordering: .sequentiallyConsistent)
        broker.stopping.store(true, ordering: .sequentiallyConsistent)
        running.wake.signal()
        running.acceptThread.join()
        close(running.listener)
        while true {
            let threads = lifecycle.withLock { lifecycle -> [DriverThread] in
                for entry in lifecycle.connections.values { entry.connection.interrupt() }
                let finished = lifecycle.finished
                lifecycle.finished.removeAll()
                return finished
            }
            for thread in threads { thread.join() }
            if lifecycle.withLock({ $0.connections.isEmpty && $0.finished.isEmpty }) { break }
            usleep(1_000)
        }
    }

    /// The port being listened on, or nil when stopped.
    public var port: UInt16? { lifecycle.withLock { $0.running?.port } }

    /// Whether the server is listening.
    public var isRunning: Bool { lifecycle.withLock { $0.running != nil } }

    /// Closes every open connection now (clients see the connection reset or closed), without stopping the server.
    public func closeAllConnections() {
        lifecycle.withLock { lifecycle in
            for entry in lifecycle.connections.values { entry.connection.interrupt() }
        }
    }

    /// Stops reading, handling and answering until ``resume()`` (see ``RivvenServerFaults/pause()``).
    public func pause() { faults.pause() }

    /// Undoes ``pause()``.
    public func resume() { faults.resume() }

    /// Forgets every producer id and sequence number, as rivvend does when it restarts (WIRE.md §11); later
    /// idempotent publishes of known ids get `UNKNOWN_PRODUCER_ID`.
    public func forgetProducers() { broker.forgetProducers() }

    // MARK: Inspection

    /// The records of one partition, in offset order (empty when the topic or partition does not exist).
    public func records(topic: String, partition: UInt32) -> [RivvenStoredRecord] {
        broker.records(topic: topic, partition: partition)
    }

    /// Every record of a topic: partition 0 in offset order, then partition 1, …
    public func allRecords(topic: String) -> [RivvenStoredRecord] {
        broker.allRecords(topic: topic)
    }

    /// Topic names in creation order.
    public func topicNames() -> [String] {
        broker.storage.withLock { $0.topicOrder }
    }

    /// A topic's partition count, or nil when it does not exist.
    public func partitionCount(topic: String) -> UInt32? {
        broker.storage.withLock { $0.topics[topic].map { UInt32($0.count) } }
    }

    /// The offset the next record of a partition will get (its record count, also when records are not retained),
    /// or nil when the topic or partition does not exist.
    public func nextOffset(topic: String, partition: UInt32) -> UInt64? {
        broker.storage.withLock { storage in
            guard let partitions = storage.topics[topic], partition < partitions.count else { return nil }
            return partitions[Int(partition)].nextOffset
        }
    }

    /// The committed offset of a consumer group, or nil.
    public func committedOffset(group: String, topic: String, partition: UInt32) -> UInt64? {
        broker.storage.withLock { $0.groupOffsets[group]?[topic]?[partition] }
    }

    /// What the server has seen so far.
    public var statistics: RivvenServerStatistics {
        broker.storage.withLock { $0.statistics }
    }

    // MARK: Threads

    private func acceptLoop(listener: Int32, wake: WakePipe) {
        while !stopping.load(ordering: .sequentiallyConsistent) {
            reapFinishedConnections()
            if faults.isPaused {
                // An unreachable broker: connections wait in the backlog.
                wake.wait(timeoutMilliseconds: 10)
                continue
            }
            let ready = RivvenServerSocket.pollReadable([listener, wake.readFD], milliseconds: 100)
            if ready[1] { wake.drain() }
            guard ready[0], !stopping.load(ordering: .sequentiallyConsistent),
                let fd = RivvenServerSocket.accept(listener)
            else { continue }
            if faults.isRefusingConnections {
                broker.updateStatistics { $0.connectionsRefused += 1 }
                close(fd)
                continue
            }
            broker.updateStatistics {
                $0.connectionsAccepted += 1
                $0.openConnections += 1
            }
            lifecycle.withLock { lifecycle in
                let id = lifecycle.nextConnectionID
                lifecycle.nextConnectionID += 1
                let connection = RivvenServerConnection(
                    id: id,
                    fd: fd,
                    broker: broker,
                    faults: faults,
                    configuration: configuration,
                    isStopping: { [self] in stopping.load(ordering: .relaxed) }
                )
                lifecycle.connections[id] = (connection, nil)
                // The new thread's unregister call waits for this lock, so the thread is stored before it can end.
                let thread = DriverThread(name: "rivven-conn") { [self] in
                    connection.run { connectionEnded(id) }
                }
                lifecycle.connections[id]?.thread = thread
            }
        }
    }

    private func connectionEnded(_ id: Int) {
        lifecycle.withLock { lifecycle in
            if let entry = lifecycle.connections.removeValue(forKey: id), let thread = entry.thread {
                lifecycle.finished.append(thread)
            }
        }
        broker.updateStatistics { $0.openConnections -= 1 }
    }

    private func reapFinishedConnections() {
        let threads = lifecycle.withLock { lifecycle -> [DriverThread] in
            let finished = lifecycle.finished
            lifecycle.finished.removeAll()
            return finished
        }
        for thread in threads { thread.join() }
    }
}
