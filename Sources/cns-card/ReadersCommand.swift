import ArgumentParser
import SmartCard

struct ReadersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "readers", abstract: "List readers and the cards in them.")

    func run() throws {
        try runReportingErrors {
            let context = try PCSCContext()
            let readers = try context.readers()
            if readers.isEmpty {
                print("No readers.")
                return
            }
            for state in try context.states(of: readers) {
                guard state.cardPresent else {
                    print("\(state.name): no card")
                    continue
                }
                var kind = "card"
                if let atr = try? ATR(state.atr) {
                    if let cns = CNSCardType(atr: atr) {
                        kind = "CNS \(cns.versionString) card"
                    }
                }
                print("\(state.name): \(kind), ATR \(hexString(state.atr))")
            }
        }
    }
}
