import Glibc

/// `check`'s verification of the sink: the local log directory is writable, and each Rivven bootstrap server
/// accepts a TCP connection.
public enum SinkProbe {
    /// One result line.
    public struct Step: Sendable, Equatable {
        /// What was checked.
        public var name: String
        /// Whether it passed.
        public var ok: Bool
        /// The detail or the reason.
        public var detail: String
    }

    /// Runs the sink checks for `configuration`.
    public static func check(_ configuration: IngestConfiguration) -> [Step] {
        var steps = [checkLogDirectory(configuration.log.dir)]
        if let rivven = configuration.rivven {
            let topics = configuration.sources.map(\.topic)
            for server in rivven.bootstrapServers {
                steps.append(contentsOf: checkRivven(server, rivven, topics: topics))
            }
        }
        return steps
    }

    /// Creates the directory if needed and writes, syncs and removes a probe file in it.
    static func checkLogDirectory(_ dir: String) -> Step {
        let name = "log dir"
        if mkdir(dir, 0o755) != 0 && errno != EEXIST {
            return Step(name: name, ok: false, detail: "cannot create \(dir): \(String(cString: strerror(errno)))")
        }
        let probe = dir + "/.rivven-mqtt-check-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            return Step(name: name, ok: false, detail: "\(dir) is not writable: \(String(cString: strerror(errno)))")
        }
        let ok = write(fd, "x", 1) == 1 && fsync(fd) == 0
        let reason = String(cString: strerror(errno))
        close(fd)
        unlink(probe)
        return ok
            ? Step(name: name, ok: true, detail: "\(dir) is writable")
            : Step(name: name, ok: false, detail: "cannot write to \(dir): \(reason)")
    }

    /// Connects, Handshakes (protocol 2), logs in with SCRAM-SHA-256 when credentials are configured, and confirms
    /// each topic exists — or, with `broker.create_topic`, may be created at start (nothing is created by `check`).
    static func checkRivven(_ server: String, _ rivven: RivvenConfiguration, topics: [String]) -> [Step] {
        let name = "rivven \(server)"
        let client: RivvenClient
        do {
            client = try RivvenClient(server: server, tls: rivven.tls, timeout: .seconds(5))
            try client.handshake(clientID: "rivven-mqtt-check")
            if let username = rivven.username {
                try client.authenticate(username: username, password: rivven.password?.value ?? "")
            }
        } catch {
            return [Step(name: name, ok: false, detail: error.message)]
        }
        let login = rivven.username.map { ", logged in as \($0) (SCRAM-SHA-256)" } ?? ""
        var steps = [Step(name: name, ok: true, detail: "handshake accepted (protocol 2)\(login)")]
        for topic in topics {
            let step = "rivven topic \(topic)"
            do {
                let reply = try client.send(.getMetadata(topic: topic))
                switch reply {
                case .metadata(_, let partitions):
                    steps.append(Step(name: step, ok: true, detail: "exists with \(partitions) partition(s)"))
                case .error(let message) where message.hasPrefix("Topic not found") && rivven.createTopic:
                    steps.append(
                        Step(name: step, ok: true, detail: "does not exist yet; created at start (broker.create_topic)")
                    )
                case .error(let message) where message.hasPrefix("Topic not found"):
                    steps.append(
                        Step(name: step, ok: false, detail: "does not exist and broker.create_topic is false")
                    )
                default:
                    steps.append(Step(name: step, ok: false, detail: RivvenClient.describe(reply)))
                }
            } catch {
                steps.append(Step(name: step, ok: false, detail: error.message))
            }
        }
        return steps
    }
}
