import ArgumentParser
import FastIngest

@main
struct RivvenMQTTCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rivven-mqtt")
    func run() async throws { print(FastIngest.version) }
}
