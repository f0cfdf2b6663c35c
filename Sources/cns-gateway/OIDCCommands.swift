import ArgumentParser
import FoundationEssentials
import Gateway
import Posix

/// `cns-gateway hash-secret`: the PHC string for a client's `secret_hash`. The secret is
/// read from standard input (never from the command line, where `ps` and shell history see it).
struct HashSecret: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-secret",
        abstract: "Print the secret_hash (PHC format) of a client secret read from standard input (PBKDF2-SHA256), or of a new one.",
        discussion: """
            A secret a person chose is hashed with PBKDF2-SHA256 ($pbkdf2-sha256$...), slow on purpose. \
            With --generate the gateway makes the secret (256 random bits, nothing to guess) and stores a one-pass \
            keyed hash ($hmac-sha256$...), so checking it costs the gateway nothing. Prefer --generate.
            """)

    @Flag(name: .long, help: "Generate a new random secret; print it on the first line and its hash ($hmac-sha256$...) on the second.")
    var generate = false

    func run() throws {
        if generate {
            let made = OIDCAdmin.generateSecret()
            print(made.secret)
            print(made.hash)
            return
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("no secret on standard input")
        }
        print(OIDCAdmin.hashSecret(line))
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the OpenID Connect signing keys in the state directory.", subcommands: [Rotate.self])

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new signing key per algorithm; the old keys stay published for the overlap, then retire. Reload (SIGHUP) to use it.")
        @OptionGroup var options: ConfigOption
        @Option(name: .long, help: "Seconds the old keys stay published (default: [oidc] key_rotation_overlap).")
        var overlap: Int?

        func run() throws {
            do {
                for line in try OIDCAdmin.rotateKeys(configPath: options.config, overlap: overlap) { print(line) }
            } catch {
                Posix.Process.writeStandardError("\(error)\n")
                throw ExitCode(1)
            }
        }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the login audit trail, oldest first.")
    @OptionGroup var options: ConfigOption
    @Option(name: .long, help: "Only records from this time: ISO 8601 (2026-11-27, 2026-11-27T10:00:00Z) or an age (30m, 24h, 7d).")
    var since: String?
    @Option(name: .long, help: "Only this reason code (ok, no_certificate, revoked, ...).")
    var reason: String?
    @Option(name: .long, help: "Only this Codice Fiscale.")
    var cf: String?
    @Option(name: .long, help: "At most this many records.")
    var limit: Int = 10_000
    @Flag(name: .long, help: "One JSON object per line.")
    var json = false

    func run() throws {
        var sinceDate: Date?
        if let since {
            guard let parsed = OIDCAdmin.parseSince(since) else { throw ValidationError("--since \(since): not a date or an age like 24h") }
            sinceDate = parsed
        }
        do {
            let lines = try OIDCAdmin.audit(configPath: options.config, since: sinceDate, reason: reason, codiceFiscale: cf,
                                            limit: limit, json: json)
            for line in lines { print(line) }
        } catch {
            Posix.Process.writeStandardError("\(error)\n")
            throw ExitCode(1)
        }
    }
}
