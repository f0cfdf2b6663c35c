#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
public import SmartCard
public import TLS
import CNS

/// Builds a card's files from its certificate when the caller gives none, the way a real
/// TS-CNS is personalised: the CN `<CF>/<card id>.<hash>` names the card id, GN/SN and the
/// Codice Fiscale fill EF_DatiPersonali (birth date, sex and birth place decoded from the CF).
public enum ProfileDerivation {
    /// The parts of a CNS common name; split on the FIRST `/` (the Base64 hash may hold more).
    public static func splitCommonName(_ cn: String) -> (codiceFiscale: String, cardID: String?)? {
        guard let slash = cn.firstIndex(of: "/") else { return nil }
        let cf = String(cn[..<slash])
        let rest = cn[cn.index(after: slash)...]
        let id = rest.firstIndex(of: ".").map { String(rest[..<$0]) }
        return (cf, id)
    }

    public static func cardID(from certificate: X509Certificate) throws(VirtualCardError) -> String {
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
