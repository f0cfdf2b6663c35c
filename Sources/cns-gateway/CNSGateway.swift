import ArgumentParser
import Gateway

@main
struct CNSGateway: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cns-gateway",
        abstract: "\"Accedi con TS-CNS\": a TLS gateway that logs citizens in with their TS-CNS smart card.",
        subcommands: [Serve.self, CheckConfig.self])
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Path of the TOML configuration file.")
    var config: String
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway until SIGTERM; SIGHUP reloads.")
    @OptionGroup var options: ConfigOption

    func run() throws {
        let status = GatewayServer(configPath: options.config).run()
        if status != 0 { throw ExitCode(status) }
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate a configuration and everything it names, without serving.")
    @OptionGroup var options: ConfigOption

    func run() throws {
        let problems = ConfigCheck.run(path: options.config)
        for problem in problems { print(problem) }
        if !problems.isEmpty { throw ExitCode(1) }
        print("\(options.config): ok")
    }
}
