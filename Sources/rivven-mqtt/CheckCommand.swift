import ArgumentParser
import FastIngest
import Glibc

/// `rivven-mqtt check`: validate the config and verify every broker it names.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract:
            "Validate the config, CONNECT and SUBSCRIBE to the MQTT broker, and verify the sink. Exit 0 when all pass.",
        discussion: ConfigurationDefaultsHelp.discussion
    )

    @OptionGroup var config: ConfigOption
    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print one JSON object instead of one line per check.")
    var json = false

    struct Result {
        var name: String
        var source: String?
        var ok: Bool
        var detail: String
    }

    func run() throws {
        _ = global.bootstrapLogging()
        let configuration: IngestConfiguration
        do {
            configuration = try IngestConfiguration.load(path: config.config)
        } catch {
            if json {
                let problems = error.problems.map {
                    JSONValue.object([("path", .string($0.path)), ("message", .string($0.message))])
                }
                writeStandardOutput(
                    JSONValue.object([
                        ("ok", .bool(false)), ("config", .string(config.config)), ("config_errors", .array(problems)),
                    ]).pretty
                )
            }
            throw CommandFailure(message: "error: \(error.description)", exitCode: 2)
        }
        var results = [
            Result(
                name: "config",
                source: nil,
                ok: true,
                detail: "\(config.config): \(configuration.sources.count) MQTT source(s)"
            )
        ]
        for source in configuration.sources {
            for step in MQTTProbe(configuration: source.mqtt).run() {
                results.append(Result(name: "mqtt \(step.name)", source: source.name, ok: step.ok, detail: step.detail))
            }
        }
        results.append(
            contentsOf: SinkProbe.check(configuration).map {
                Result(name: $0.name, source: nil, ok: $0.ok, detail: $0.detail)
            }
        )
        let allOK = results.allSatisfy(\.ok)
        if json {
            let items = results.map { r -> JSONValue in
                var fields: [(String, JSONValue)] = [("name", .string(r.name))]
                fields.append(("source", r.source.map { .string($0) } ?? .null))
                fields.append(("ok", .bool(r.ok)))
                fields.append(("detail", .string(r.detail)))
                return .object(fields)
            }
            writeStandardOutput(JSONValue.object([("ok", .bool(allOK)), ("checks", .array(items))]).pretty)
        } else {
            for r in results {
                let source = r.source.map { " [\($0)]" } ?? ""
                writeStandardOutput("\(r.ok ? "ok    " : "FAILED") \(r.name)\(source): \(r.detail)")
            }
        }
        if !allOK { throw ExitCode(1) }
    }
}
