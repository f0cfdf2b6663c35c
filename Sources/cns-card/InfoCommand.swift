import ArgumentParser
import CNS
import Foundation
import SmartCard

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show the card: ATR, card id, personal data, certificate, and whether they agree.")

    @OptionGroup var readerOptions: ReaderOptions

    func run() throws {
        try runReportingErrors {
            let session = try CardSession(options: readerOptions)
            defer { session.close(afterPIN: false) }
            print("Reader:          \(session.readerName)")
            print("ATR:             \(hexString(session.atr))")
            let atr = try ATR(session.atr)
            guard let type = CNSCardType(atr: atr) else {
                print("Card type:       not a CNS card")
                throw ExitCode(3)
            }
            print("Card type:       CNS \(type.versionString) (IC: \(type.icManufacturer); mask: \(type.maskManufacturer); OS \(hex(type.operatingSystemVersion)))")
            let card = session.card
            let (cardID, personalFile, certificate) = try session.connection.withTransaction {
                () throws(SmartCardError) in
                (try card.readCardID(), try card.readPersonalDataFile(), try card.readCertificate())
            }
            print("Card id:         \(cardID)")

            let personal = try? PersonalData(parsing: personalFile)
            print("Personal data (EF_DatiPersonali):")
            if let personal {
                line("Surname", personal.surname)
                line("Given name", personal.givenName)
                line("Birth date", formatDate(personal.birthDate))
                line("Sex", personal.sex)
                line("Birth place", [personal.birthMunicipality, personal.birthCountry].filter { !$0.isEmpty }.joined(separator: ", "))
                line("Codice Fiscale", personal.codiceFiscale + " (" + FiscalCodeCheck.describe(personal.codiceFiscale) + ")")
                line("Issued", formatDate(personal.issueDate))
                line("Expires", formatDate(personal.expiryDate))
            } else {
                print("  unreadable: not in the EF_DatiPersonali format")
            }

            print("Certificate (3F00/1100/1101, \(certificate.count) bytes):")
            let verdict = CNSEvaluator.evaluate(leafDER: certificate)
            var agreement: [(String, Bool)] = []
            switch verdict {
            case .success(let identity):
                line("Subject", identity.subject)
                line("Issuer", identity.issuer)
                line("Serial", identity.serialHex)
                line("Valid", "\(iso(identity.notBefore)) to \(iso(identity.notAfter))")
                line("Key", "\(identity.keyAlgorithm) \(identity.keyBits) bits")
                line("Codice Fiscale", identity.codiceFiscale.value + " (" + FiscalCodeCheck.describe(identity.codiceFiscale.value) + ")")
                switch identity.kind {
                case .cns:
                    line("Profile", "CNS authentication certificate")
                    agreement.append(("card id (EF_IDCarta = certificate CN)", identity.cardID == cardID))
                case .cie:
                    // A CIE's CN carries no card id to compare with EF_IDCarta.
                    line("Profile", "CIE authentication certificate")
                    if let number = identity.documentNumber { line("Document", number) }
                }
                if let personal {
                    agreement.append(("Codice Fiscale (EF_DatiPersonali = certificate)", personal.codiceFiscale == identity.codiceFiscale.value))
                    if let surname = identity.surname {
                        agreement.append(("surname (EF_DatiPersonali = certificate SN)", personal.surname == surname))
                    }
                    if let given = identity.givenName {
                        agreement.append(("given name (EF_DatiPersonali = certificate GN)", personal.givenName == given))
                    }
                }
            case .failure(let rejection):
                line("Profile", "not a CNS authentication certificate: \(rejection.reason.rawValue) (\(rejection.detail))")
            }
            print("Consistency:")
            if agreement.isEmpty {
                print("  cannot compare: the certificate is not a CNS authentication certificate")
                throw ExitCode(4)
            }
            for (what, ok) in agreement {
                print("  \(ok ? "ok      " : "MISMATCH") \(what)")
            }
            if agreement.allSatisfy(\.1) {
                print("The data on the card and in the certificate agree.")
            } else {
                print("The data on the card and in the certificate DO NOT agree.")
                throw ExitCode(4)
            }
        }
    }

    private func line(_ label: String, _ value: String) {
        let padded = label + ":" + String(repeating: " ", count: max(1, 16 - label.count))
        print("  " + padded + (value.isEmpty ? "-" : value))
    }

    private func formatDate(_ text: String) -> String {
        guard let d = PersonalData.dateComponents(text) else { return text }
        return String(format: "%04d-%02d-%02d", d.year, d.month, d.day)
    }

    private func hex(_ value: UInt16) -> String { hexString([UInt8(value >> 8), UInt8(value & 0xFF)], separator: "") }

    private func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: date)
    }
}

/// The one place the Codice Fiscale is judged: the gateway's CNS module.
enum FiscalCodeCheck {
    static func describe(_ text: String) -> String {
        do {
            let cf = try CodiceFiscale(text)
            return cf.isOmocode ? "valid, omocode" : "valid"
        } catch {
            return "INVALID: \(error.reason)"
        }
    }
}
