import ArgumentParser
import SmartCard

/// One open card: the PC/SC connection and the CNS protocol on it. Ends with a reset
/// after a PIN was presented, so the verified PIN does not outlive the command.
final class CardSession {
    let context: PCSCContext
    let connection: CardConnection
    let card: CNSCard
    let readerName: String
    let atr: [UInt8]

    init(options: ReaderOptions) throws(SmartCardError) {
        context = try PCSCContext()
        let readers = try context.readers()
        guard !readers.isEmpty else { throw SmartCardError(.noReader, "no smart card reader is connected (is pcscd running?)") }
        let chosen: String
        if let wanted = options.reader {
            guard readers.contains(wanted) else {
                throw SmartCardError(.noReader, "no reader named \"\(wanted)\"; readers: \(readers.joined(separator: ", "))")
            }
            chosen = wanted
        } else {
            let states = try context.states(of: readers)
            let withCard = states.filter(\.cardPresent)
            let cns = withCard.first { (try? ATR($0.atr)).flatMap(CNSCardType.init(atr:)) != nil }
            guard let pick = cns ?? withCard.first else {
                throw SmartCardError(.noCard, "no card in any reader (\(readers.joined(separator: ", ")))")
            }
            chosen = pick.name
        }
        connection = try context.connect(reader: chosen)
        let status = try connection.status()
        readerName = chosen
        atr = status.atr
        card = CNSCard(transport: connection, atr: status.atr)
    }

    func requireCNS() throws(SmartCardError) {
        guard card.cardType != nil else {
            throw SmartCardError(.notACNSCard, "the card in \(readerName) is not a CNS card (ATR \(hexString(atr)))")
        }
    }

    func close(afterPIN: Bool) {
        connection.disconnect(afterPIN ? .reset : .leave)
    }
}

extension SmartCardError {
    /// Exit status by kind: 1 a wrong secret, 2 a blocked one (also the mistake that blocks it),
    /// 3 anything else.
    var exitCode: ExitCode {
        switch code {
        case .wrongPIN(0), .wrongPUK(0): return ExitCode(2)
        case .wrongPIN, .wrongPUK: return ExitCode(1)
        case .pinBlocked, .pukBlocked: return ExitCode(2)
        default: return ExitCode(3)
        }
    }
}

/// Runs a command body, turning a card error into a message and an exit status.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as SmartCardError {
        Output.error(error.reason)
        throw error.exitCode
    }
}
