import ArgumentParser
import FastIngest

/// `rivven-mqtt discover`: the catalog in rivven-connect's Catalog shape.
struct DiscoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discover",
        abstract: "Print the catalog (one stream per topic filter) as JSON in rivven-connect's Catalog shape."
    )

    @OptionGroup var config: ConfigOption
    @OptionGroup var global: GlobalOptions

    /// The JSON schema of `data`, as rivven-connect's mqtt-source declares it.
    static let schema = JSONValue.object([
        ("type", .string("object")),
        (
            "properties",
            .object([
                ("topic", .object([("type", .string("string"))])),
                ("payload", .object([("type", .array([.string("object"), .string("string"), .string("null")]))])),
                ("qos", .object([("type", .string("integer")), ("minimum", .int(0)), ("maximum", .int(2))])),
                ("retain", .object([("type", .string("boolean"))])),
                ("timestamp", .object([("type", .string("string")), ("format", .string("date-time"))])),
            ])
        ),
        ("required", .array([.string("topic"), .string("payload")])),
    ])

    func run() throws {
        _ = global.bootstrapLogging()
        let configuration = try config.load()
        writeStandardOutput(Self.catalog(configuration).pretty)
    }

    static func catalog(_ configuration: IngestConfiguration) -> JSONValue {
        var streams: [JSONValue] = []
        for source in configuration.sources {
            for filter in source.mqtt.topics {
                streams.append(
                    .object([
                        ("name", .string(StreamName.normalize(filter))),
                        ("namespace", .null),
                        ("json_schema", schema),
                        ("supported_sync_modes", .array([.string("full_refresh"), .string("incremental")])),
                        ("default_cursor_field", .null),
                        ("source_defined_primary_key", .null),
                        ("metadata", .object([])),
                    ])
                )
            }
        }
        return .object([("streams", .array(streams))])
    }
}
