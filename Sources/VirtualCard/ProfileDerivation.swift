#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
public import SmartCard
public import TLS
public import CNS

/// Builds a card's files from its certificate when the caller gives none, the way a real
/// TS-CNS is personalised: the CN `<CF>/<card id>.<hash>` names the card id, GN/SN and the
/// Codice Fiscale fill EF_DatiPersonali (birth date, sex and birth place decoded from the CF).
///
/// A virtual CIE (a CIE-shaped certificate, CN `<CF>/<12 digits>`) is the same emulator: a
/// real CIE's chip speaks another protocol, which the gateway never sees (it sees the TLS
/// handshake only), so the emulation keeps the CNS files and commands that pcscd, OpenSC and
/// cns-card drive, and takes from the CIE what the login depends on: its certificate, its
/// 8-digit PIN and PUK, and a key that signs PKCS#1 v1.5 only. Its EF_IDCarta holds the CN's
/// 12 digits after four zeros (the file takes 16 digits; a real CIE has no such file).
public enum ProfileDerivation {
    /// The card the certificate belongs to, as the gateway's profile reads it; nil when it is
    /// neither a CNS's nor a CIE's.
    public static func cardKind(of certificate: X509Certificate) -> CardKind? {
        switch CNSEvaluator.evaluate(leafDER: certificate.der) {
        case .success(let identity): identity.kind
        case .failure(let rejection): rejection.kind
        }
    }

    /// The parts of a CNS common name; split on the FIRST `/` (the Base64 hash may hold more).
    public static func splitCommonName(_ cn: String) -> (codiceFiscale: String, cardID: String?)? {
        guard let slash = cn.firstIndex(of: "/") else { return nil }
        let cf = String(cn[..<slash])
        let rest = cn[cn.index(after: slash)...]
        let id = rest.firstIndex(of: ".").map { String(rest[..<$0]) }
        return (cf, id)
    }

    public static func cardID(from certificate: X509Certificate, kind: CardKind = .cns) throws(VirtualCardError) -> String {
        if kind == .cie {
            guard case .success(let identity) = CNSEvaluator.evaluate(leafDER: certificate.der), let number = identity.cnNumber else {
                throw VirtualCardError(.configuration, "the certificate CN is not <CF>/<12 digits>; pass --card-id")
            }
            return "0000" + number
        }
        guard let cn = certificate.subjectAttribute(.commonName), let id = splitCommonName(cn)?.cardID,
              (try? CNSCard.parseCardID(Array(id.utf8))) != nil else {
            throw VirtualCardError(.configuration, "the certificate CN holds no 16-digit card id; pass --card-id")
        }
        return id
    }

    public static func personalData(from certificate: X509Certificate) throws(VirtualCardError) -> PersonalData {
        guard let cn = certificate.subjectAttribute(.commonName), let cfText = splitCommonName(cn)?.codiceFiscale else {
            throw VirtualCardError(.configuration, "the certificate CN is not <CF>/<card id>.<hash>; pass --personal-data")
        }
        var data = PersonalData(issueDate: ddmmyyyy(certificate.notBefore), expiryDate: ddmmyyyy(certificate.notAfter),
                                surname: certificate.subjectAttribute(.surname) ?? "",
                                givenName: certificate.subjectAttribute(.givenName) ?? "",
                                codiceFiscale: cfText)
        if let cf = try? CodiceFiscale(cfText), cf.kind == .personal {
            data.codiceFiscale = cf.value
            if let date = cf.birthDate() {
                let two = { (value: Int) in value < 10 ? "0\(value)" : "\(value)" }
                data.birthDate = two(date.day) + two(date.month) + String(date.year)
            }
            data.sex = cf.sex?.rawValue ?? ""
            if let place = cf.placeCode {
                if place.hasPrefix("Z") {
                    data.birthCountry = place
                } else {
                    data.birthMunicipality = place
                    data.birthCountry = "ITALIA"
                }
            }
        }
        return data
    }

    /// A date as EF_DatiPersonali writes it: DDMMYYYY (UTC); empty when there is none.
    static func ddmmyyyy(_ date: Date?) -> String {
        guard let date else { return "" }
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let two = { (value: Int32) in value < 10 ? "0\(value)" : "\(value)" }
        return two(parts.tm_mday) + two(parts.tm_mon + 1) + String(parts.tm_year + 1900)
    }
}
