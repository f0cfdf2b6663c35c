import CNS
import Foundation
import Pages
import Testing

/// The Lombardy Contact Center's published contacts, the shape an administration configures.
let lombardyHelp = HelpContacts(
    phone: "800.030.606", email: "contactcenter-SISS@regione.lombardia.it",
    url: "https://www.regione.lombardia.it/", hours: "lunedì-sabato 8:00-20:00")

func makeRenderer(help: HelpContacts = lombardyHelp, overrideDirectory: String? = nil) throws -> PageRenderer {
    try PageRenderer(overrideDirectory: overrideDirectory, help: help)
}

func identity(
    cf: String = "RSSMRA80A01H501U", givenName: String? = "MARIO", surname: String? = "ROSSI",
    subject: String = "C=IT, O=ArubaPEC S.p.A., OU=REGIONE DEMO, CN=RSSMRA80A01H501U/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4=, GN=MARIO, SN=ROSSI",
    administration: String? = "REGIONE DEMO"
) throws -> CNSIdentity {
    CNSIdentity(
        codiceFiscale: try CodiceFiscale(cf), cardID: "6120016461039008", cnHash: "OcjosidjOIUjhohdcaalkKgUgB4=",
        givenName: givenName, surname: surname, administration: administration, organization: "ArubaPEC S.p.A.",
        subject: subject, issuer: "C=IT, O=ArubaPEC S.p.A., OU=Servizi di Certificazione, CN=Regione Demo - CA Cittadini",
        serialHex: "4A1B2C3D4E5F6071", notBefore: Date(timeIntervalSince1970: 1_700_000_000),
        notAfter: Date(timeIntervalSince1970: 1_900_000_000), keyAlgorithm: "RSA", keyBits: 2048,
        signatureAlgorithm: "sha256WithRSAEncryption", policyOIDs: ["1.3.76.16.2.1"],
        sha256Thumbprint: "ab12cd34", source: .commonName)
}

/// The first match of `pattern`'s first capture group.
func capture(_ pattern: String, in html: String) -> String? {
    guard let regex = try? Regex(pattern), let match = html.firstMatch(of: regex), match.count > 1,
        let group = match[1].substring
    else { return nil }
    return String(group)
}

/// What a reader of the page sees: tags dropped, the five entities we produce decoded,
/// whitespace collapsed. Good enough for our own output, which has no other entities.
func visibleText(_ html: String) -> String {
    var text = html
    if let body = html.firstRange(of: "<body>") { text = String(html[body.upperBound...]) }
    text = text.replacing(#/<[^>]*>/#, with: " ")
    for (entity, character) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&amp;", "&")] {
        text = text.replacingOccurrences(of: entity, with: character)
    }
    return text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
}

/// A directory under /tmp that removes itself.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "pages-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path + "/" + name))
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}
