extension RivvenConfiguration: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case bootstrapServers = "bootstrap_servers"
        case address
        case tls
        case auth
        case createTopic = "create_topic"
        case partitions
        case idempotent
        // rivven-connect's own broker keys: accepted and checked, not used.
        case metadataRefreshMs = "metadata_refresh_ms"
        case connectionTimeoutMs = "connection_timeout_ms"
        case requestTimeoutMs = "request_timeout_ms"
    }

    /// Decodes the `broker:` section.
    ///
    /// A section that names no servers at all (`broker: {}`) decodes with empty ``bootstrapServers``: the local
    /// log is then the only sink. It cannot be made when a server, TLS file or the address is bad, or when it
    /// has other settings but no servers.
    public init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        var valid = true
        var servers: [String] = []
        let hasList = container.contains(.bootstrapServers)
        let hasAddress = container.contains(.address)
        if hasList && hasAddress {
            container.report(.address, "give either `bootstrap_servers` or `address`, not both")
            valid = false
        }
        if let items = container.list(.bootstrapServers, of: "`host:port` addresses") {
            for item in items {
                if let problem = HostPort.problem(item.text, allowPortZero: false) {
                    container.problems.report(item.path, problem)
                    valid = false
                } else {
                    servers.append(item.text)
                }
            }
        } else if !container.isMissing(.bootstrapServers) {
            valid = false
        }
        if let address = container.string(.address) {
            if let problem = HostPort.problem(address, allowPortZero: false) {
                container.report(.address, problem)
                valid = false
            } else if !hasList {
                servers = [address]
            }
        }
        let tls = container.section(.tls, as: RivvenTLSConfiguration.self)
        if tls == nil, container.holdsMapping(.tls) {
            // A `tls` mapping with bad files (reported); a `tls` that is not a mapping only keeps TLS off.
            valid = false
        }
        let credentials = container.section(.auth, as: CredentialsSection.self)
        let createTopic = container.bool(.createTopic)
        let partitions = container.integer(.partitions, in: 1...1000)
        let idempotent = container.bool(.idempotent)
        for key in [CodingKeys.metadataRefreshMs, .connectionTimeoutMs, .requestTimeoutMs] {
            _ = container.integer(key, in: 0...86_400_000)
        }
        if valid, servers.isEmpty {
            let others = container.allKeys.filter { $0 != "bootstrap_servers" && $0 != "address" }
            if !others.isEmpty {
                container.report(
                    .bootstrapServers,
                    "required when `broker` has other settings (\(others.map { "`\($0)`" }.joined(separator: ", "))); "
                        + "without servers rivven-mqtt writes to the local log only"
                )
                valid = false
            }
        }
        try container.finish()
        guard valid else { throw container.invalid() }
        self.init(
            bootstrapServers: servers,
            tls: tls ?? RivvenTLSConfiguration(),
            username: credentials?.username,
            password: credentials?.password,
            createTopic: createTopic ?? true,
            partitions: partitions ?? 1,
            idempotent: idempotent ?? true
        )
    }
}

extension RivvenTLSConfiguration: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case enabled, insecure
        case serverName = "server_name"
        case caPath = "ca_path"
        case certPath = "cert_path"
        case keyPath = "key_path"
    }

    /// Decodes `broker.tls`; it cannot be made when a file is unusable or a client certificate or key lacks its
    /// pair.
    public init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        let enabled = container.bool(.enabled)
        let insecure = container.bool(.insecure)
        let serverName = container.string(.serverName)
        let files = [CodingKeys.caPath, .certPath, .keyPath].map(container.readableFile)
        var valid = !files.contains(.unusable)
        if container.contains(.keyPath) && !container.contains(.certPath) {
            container.report(.keyPath, "a client key needs `cert_path` too")
            valid = false
        }
        if container.contains(.certPath) && !container.contains(.keyPath) {
            container.report(.certPath, "a client certificate needs `key_path` too")
            valid = false
        }
        try container.finish()
        guard valid else { throw container.invalid() }
        self.init(
            enabled: enabled ?? false,
            caPath: files[0]?.path,
            certPath: files[1]?.path,
            keyPath: files[2]?.path,
            insecure: insecure ?? false,
            serverName: serverName
        )
    }
}

/// `broker.auth`.
struct CredentialsSection: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case username, password
    }

    var username: String?
    var password: Secret?

    init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        username = container.string(.username)
        password = container.string(.password).map(Secret.init)
        try container.finish()
    }
}
