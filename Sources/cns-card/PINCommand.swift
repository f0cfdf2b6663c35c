import ArgumentParser
import SmartCard

struct PINCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin", abstract: "Verify, change or unblock the card's PIN.",
        subcommands: [Verify.self, Change.self, Unblock.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check the PIN (a wrong one uses up a try).")
        @OptionGroup var readerOptions: ReaderOptions
        @OptionGroup var secretOptions: SecretOptions

        func run() throws {
            let input = SecretInput(options: secretOptions)
            let pin = try input.read(.pin, prompt: "PIN: ")
            try PINCommand.perform(readerOptions) { card throws(SmartCardError) in
                try card.verify(pin: pin)
                print("PIN verified.")
            }
        }
    }

    struct Change: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the PIN (old PIN, then the new one).")
        @OptionGroup var readerOptions: ReaderOptions
        @OptionGroup var secretOptions: SecretOptions

        func run() throws {
            let input = SecretInput(options: secretOptions)
            let old = try input.read(.pin, prompt: "Current PIN: ")
            let new = try PINCommand.readNewPIN(input, options: secretOptions)
            try PINCommand.perform(readerOptions) { card throws(SmartCardError) in
                try card.changePIN(old: old, new: new)
                print("PIN changed.")
            }
        }
    }

    struct Unblock: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unblock the PIN with the PUK and set a new PIN.")
        @OptionGroup var readerOptions: ReaderOptions
        @OptionGroup var secretOptions: SecretOptions

        func run() throws {
            let input = SecretInput(options: secretOptions)
            let puk = try input.read(.puk, prompt: "PUK: ")
            let new = try PINCommand.readNewPIN(input, options: secretOptions)
            try PINCommand.perform(readerOptions) { card throws(SmartCardError) in
                try card.unblockPIN(puk: puk, newPIN: new)
                print("PIN unblocked and changed.")
            }
        }
    }

    /// The new PIN; typed twice at a terminal (a script's --pin-fd gives it once).
    static func readNewPIN(_ input: SecretInput, options: SecretOptions) throws -> CardSecret {
        let new = try input.read(.pin, prompt: "New PIN: ")
        if options.pinFD == nil {
            let again = try input.read(.pin, prompt: "New PIN again: ")
            defer { again.wipe() }
            guard again.matches(new) else {
                new.wipe()
                throw InputError("the two new PINs differ")
            }
        }
        return new
    }

    /// Opens the card, runs `body` in a transaction, explains a wrong or blocked secret,
    /// and resets the card so the PIN state does not outlive the command.
    static func perform(_ options: ReaderOptions, _ body: (CNSCard) throws(SmartCardError) -> Void) throws {
        try runReportingErrors {
            let session = try CardSession(options: options)
            defer { session.close(afterPIN: true) }
            try session.requireCNS()
            do throws(SmartCardError) {
                try session.connection.withTransaction { () throws(SmartCardError) in try body(session.card) }
            } catch {
                if let message = explain(error) {
                    print(message)
                    throw error.exitCode
                }
                throw error
            }
        }
    }

    /// The words for a wrong or blocked PIN/PUK, warning when the next mistake blocks it.
    static func explain(_ error: SmartCardError) -> String? {
        switch error.code {
        case .wrongPIN(let left):
            return wrong("PIN", left) + (left == 0
                ? " The PIN is now blocked: unblock it with `cns-card pin unblock` (PUK and a new PIN)."
                : "")
        case .wrongPUK(let left):
            return wrong("PUK", left) + (left == 0 ? " The PUK is now blocked: the card cannot be unblocked any more." : "")
        case .pinBlocked:
            return "The PIN is blocked: unblock it with `cns-card pin unblock` (PUK and a new PIN)."
        case .pukBlocked:
            return "The PUK is blocked: the card cannot be unblocked any more."
        default:
            return nil
        }
    }

    private static func wrong(_ name: String, _ left: Int) -> String {
        let base = "Wrong \(name): \(left) \(left == 1 ? "try" : "tries") left."
        return left == 1 ? base + " Warning: one more wrong \(name) blocks it." : base
    }
}
