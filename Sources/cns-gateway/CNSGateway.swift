import ArgumentParser
import Gateway
import Posix

@main
struct CNSGateway: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cns-gateway",
        abstract: "\"Accedi con TS-CNS\": a TLS gateway that logs citizens in with their TS-CNS smart card.",
        subcommands: [Serve.self, CheckConfig.self, InspectCert.self, TrustListCommands.self, HashSecret.self, Keys.self, Audit.self])
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
        let result = ConfigCheck.run(path: options.config)
        for problem in result.problems { print(problem) }
        for warning in result.warnings { print("warning: \(warning)") }
        if !result.problems.isEmpty { throw ExitCode(1) }
        print("\(options.config): ok")
    }
}

struct InspectCert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect-cert",
        abstract: "Show what the gateway reads from a certificate (PEM or DER) and its verdict.")

    @Argument(help: "Certificate file: PEM (leaf first, then any intermediates) or DER.")
    var file: String
    @Option(name: .long, help: "Gateway configuration: also check the chain against its trust and revocation settings.")
    var config: String?
    @Flag(name: .long, help: "Machine-readable JSON output.")
    var json = false

    func run() throws {
        do {
            let output = try CertificateInspection.run(file: file, configPath: config, json: json)
            print(output.text)
            if !output.accepted { throw ExitCode(3) }
        } catch let error as ExitCode {
            throw error
        } catch {
            Posix.Process.writeStandardError("cns-gateway: \(error)\n")
            throw ExitCode(1)
        }
    }
}
