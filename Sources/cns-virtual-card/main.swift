import ArgumentParser
import Glibc
import CNS
import SmartCard
import TLS
import VirtualCard

/// A virtual TS-CNS card that plugs into vpcd (Debian package vsmartcard-vpcd), so pcscd,
/// OpenSC and cns-card see a card in the reader "Virtual PCD 00 00". With `--kind cie` it
/// holds a CIE-shaped certificate instead and behaves as a CIE does towards a TLS login
/// (see `ProfileDerivation`): 8-digit PIN and PUK, PKCS#1 v1.5 signatures only.
@main
struct VirtualCardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cns-virtual-card",
        abstract: "Serve a virtual Italian CNS card to vpcd until killed.")

    @Option(help: "The card's certificate, PEM or DER.")
    var certificate: String

    @Option(help: "The certificate's RSA private key, PEM or DER.")
    var key: String

    @Option(help: "The PIN (5-8 digits). Test material only: a real PIN never goes on a command line.")
    var pin: String

    @Option(help: "The PUK (5-8 digits).")
    var puk: String

    @Option(help: "cns (a TS-CNS, the default) or cie (a CIE-shaped certificate: 8-digit PIN and PUK, PKCS#1 v1.5 signatures only).")
    var kind: String = "cns"

    @Option(help: "Where vpcd listens (slot 0 is 35963).")
    var vpcd: String = "127.0.0.1:35963"

    @Option(name: .customLong("card-id"), help: "EF_IDCarta, 16 digits (default: from the certificate CN).")
    var cardID: String?

    @Option(name: .customLong("personal-data"), help: "A file with the raw EF_DatiPersonali (default: derived from the certificate).")
    var personalData: String?

    @Option(name: .customLong("pin-tries"), help: "Wrong PINs before the PIN blocks.")
    var pinTries: Int = 3

    @Option(name: .customLong("puk-tries"), help: "Wrong PUKs before the PUK blocks.")
    var pukTries: Int = 10

    @Option(name: .customLong("cns-version"), help: "1.0 or 1.1, written into the ATR.")
    var cnsVersion: String = "1.0"

    @Option(name: .customLong("mask-manufacturer"), help: "Mask manufacturer code in the ATR (9 = STIncard).")
    var maskManufacturer: UInt8 = 9

    @Flag(name: .customLong("t0"), help: "Answer like a T=0 card (61xx / 6Cxx).")
    var t0 = false

    @Flag(help: "Log every instruction and status word to stderr (never data).")
    var verbose = false

    func validate() throws {
        guard ["1.0", "1.1"].contains(cnsVersion) else { throw ValidationError("--cns-version is 1.0 or 1.1") }
        guard let cardKind = CardKind(rawValue: kind) else { throw ValidationError("--kind is cns or cie") }
        // The CIE's PIN and PUK are 8 digits each, handed out in two halves of four.
        if cardKind == .cie, pin.count != 8 || puk.count != 8 {
            throw ValidationError("--kind cie takes an 8-digit PIN and an 8-digit PUK")
        }
        guard (1...15).contains(pinTries), (1...15).contains(pukTries) else {
            throw ValidationError("--pin-tries and --puk-tries are 1 to 15 (a 63Cx counter)")
        }
    }

    func run() throws {
        let certificateBytes = try readFile(self.certificate)
        let certificate: X509Certificate
        do {
            certificate = try X509Certificate(pemOrDER: certificateBytes)
        } catch {
            throw VirtualCardError(.certificate, "\(self.certificate): \(error.reason)")
        }
        let key = try CardKey(contentsOf: readFile(self.key))
        guard certificate.publicKeyInfoDER == key.publicKeyInfoDER else {
            throw VirtualCardError(.keyMismatch, "\(self.key) is not the key of \(self.certificate)")
        }
        let cardKind = CardKind(rawValue: kind) ?? .cns
        let found = ProfileDerivation.cardKind(of: certificate)
        guard found == cardKind else {
            throw VirtualCardError(.certificate, "\(self.certificate) is \(found.map { "a \($0.rawValue.uppercased())" } ?? "neither a CNS's nor a CIE's") certificate, not a \(cardKind.rawValue.uppercased())'s")
        }
        let id = try cardID ?? ProfileDerivation.cardID(from: certificate, kind: cardKind)
        _ = try CNSCard.parseCardID(Array(id.utf8))
        let personal: [UInt8]
        if let personalData {
            personal = try readFile(personalData)
        } else {
            personal = try ProfileDerivation.personalData(from: certificate).encoded()
        }
        let (host, port) = try endpoint(vpcd)
        let profile = VirtualCardProfile(
            atr: VirtualCardProfile.defaultATR(version: cnsVersion == "1.1" ? 0x11 : 0x10, maskManufacturer: maskManufacturer),
            cardID: id, personalData: personal, certificate: certificate.der,
            pin: try CardSecret(pin, kind: .pin), puk: try CardSecret(puk, kind: .puk),
            pinTries: pinTries, pukTries: pukTries, t0Responses: t0, pkcs1Only: cardKind == .cie)
        let card = CNSCardEmulator(profile: profile, key: key)
        let log = { (line: String) in
            var standardError = StandardError()
            print("cns-virtual-card: \(line)", to: &standardError)
        }
        if verbose { card.log = log }
        log("card \(id) (\(cardKind.rawValue)), ATR \(hexString(profile.atr))\(cardKind == .cie ? ", PKCS#1 v1.5 signatures only" : "")")
        VPCDConnection(host: host, port: port, card: card, log: log).serve()
    }

    private func endpoint(_ text: String) throws -> (String, UInt16) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw ValidationError("--vpcd is HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    private func readFile(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else {
            throw VirtualCardError(.file, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n > 0 { bytes += buffer.prefix(n) }
            if n < buffer.count { break }
        }
        guard ferror(file) == 0 else { throw VirtualCardError(.file, "cannot read \(path)") }
        return bytes
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        let bytes = Array(string.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
