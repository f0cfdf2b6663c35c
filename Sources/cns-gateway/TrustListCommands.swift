import ArgumentParser
import Gateway
import Posix

/// `cns-gateway trust-list verify|show|import`: the CA list from AgID's signed trusted list.
struct TrustListCommands: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust-list",
        abstract: "Verify, inspect and import a signed ETSI TS 119 612 trusted list (AgID's TSL-IT).",
        subcommands: [Verify.self, Show.self, Import.self])

    struct ListOptions: ParsableArguments {
        @Argument(help: "The list: a file path or an http(s):// URL (default: [trust_list] source of --config).")
        var source: String?
        @Option(name: .long, help: "Gateway configuration: its [trust_list] settings and the sequence number in use.")
        var config: String?
        @Flag(name: .long, help: "Machine-readable JSON output.")
        var json = false
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the list's signature, signer, sequence number and NextUpdate; print the verdict (exit 3 when refused).")
        @OptionGroup var options: ListOptions
        @Option(name: .long, help: "A certificate allowed to sign (PEM/DER file or SHA-256); repeatable, added to the config's.")
        var signer: [String] = []

        func run() throws {
            try TrustListCommands.print {
                try TrustListCommand.verify(source: options.source, configPath: options.config, signers: signer, json: options.json)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every service of the list: those that would be taken and those skipped, each with the reason.")
        @OptionGroup var options: ListOptions
        @Option(name: .long, help: "A certificate allowed to sign (PEM/DER file or SHA-256); repeatable, added to the config's.")
        var signer: [String] = []

        func run() throws {
            try TrustListCommands.print {
                try TrustListCommand.show(source: options.source, configPath: options.config, signers: signer, json: options.json)
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the list, write its CAs to [trust_list] directory and reload the running gateway (SIGHUP).")
        @OptionGroup var options: ListOptions
        @Flag(name: .customLong("no-reload"), help: "Do not signal the running gateway.")
        var noReload = false

        func run() throws {
            guard let config = options.config else { throw ValidationError("import needs --config (the [trust_list] directory and settings)") }
            let status: Int32
            do {
                status = try TrustListCommand.importList(source: options.source, configPath: config, json: options.json, reload: !noReload)
            } catch {
                Posix.Process.writeStandardError("cns-gateway: \(error)\n")
                throw ExitCode(1)
            }
            if status != 0 { throw ExitCode(status) }
        }
    }

    static func print(_ body: () throws -> TrustListCommand.Output) throws {
        let output: TrustListCommand.Output
        do {
            output = try body()
        } catch {
            Posix.Process.writeStandardError("cns-gateway: \(error)\n")
            throw ExitCode(1)
        }
        Swift.print(output.text)
        if output.status != 0 { throw ExitCode(output.status) }
    }
}
