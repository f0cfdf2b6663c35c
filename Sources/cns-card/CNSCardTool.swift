import ArgumentParser

@main
struct CNSCardTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cns-card",
        abstract: "Read and use an Italian CNS smart card through PC/SC.",
        subcommands: [ReadersCommand.self, InfoCommand.self, CertCommand.self, PINCommand.self, LoginCommand.self])
}

/// Options every command that talks to a card shares.
struct ReaderOptions: ParsableArguments {
    @Option(help: "The reader to use (default: the first one holding a CNS card).")
    var reader: String?
}

/// PIN input for scripts: secrets one per line from an already-open file descriptor.
struct SecretOptions: ParsableArguments {
    @Option(name: .customLong("pin-fd"),
            help: "Read PIN/PUK values one per line from this file descriptor instead of the terminal.")
    var pinFD: Int32?
}
