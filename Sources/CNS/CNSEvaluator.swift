import Crypto
import X509

/// Decides whether a leaf certificate is a CNS or CIE authentication certificate and reads the
/// holder's identity from it. It does not verify the chain, the validity dates or revocation:
/// that is the TLS layer's job, done before this is called.
///
/// Checks, in this order (the first failure is the answer):
/// 1. The DER parses (`malformed_certificate`).
/// 2. A certificate carrying a CIE policy (`profile.ciePolicyOIDs`) is a CIE's and is judged by
///    the CIE rules alone (`evaluateCIE`); with `cie` switched off it is `not_cns_certificate`.
///    Otherwise, with `cns` switched off, it is `not_cns_certificate` too.
/// 3. Usage. nonRepudiation without digitalSignature, or an extendedKeyUsage without clientAuth,
///    is `signature_certificate`. This comes before every other profile check on purpose: the
///    card's signature certificate also fails the policy and CN checks, and "you chose the
///    signature certificate, choose the other one" is the message that helps the citizen.
///    Then a missing keyUsage or one without digitalSignature is `not_cns_certificate`.
/// 4. Policy: one of `profile.policyOIDs`.
/// 5. CN `<CF>/<card id>.<hash>`, split on the first `/` only (the Base64 hash may contain `/`).
///    A CN of that shape whose CF does not validate as a personal code is `invalid_fiscal_code`.
/// 6. Only when 4 or 5 failed and `profile.allowCNSLike`: a single subject serialNumber
///    `TINIT-<CF>` or `IT:<CF>` (`invalid_fiscal_code` if that CF does not validate).
/// 7. Otherwise `not_cns_certificate`, saying whether the policy or the CN was missing.
public enum CNSEvaluator {
    public static func evaluate(leafDER: [UInt8], profile: CNSProfile = .standard) -> Result<CNSIdentity, CNSRejection> {
        let certificate: LeafCertificate
        do {
            certificate = try LeafCertificate(derEncoded: leafDER)
        } catch {
            return .failure(CNSRejection(reason: .malformedCertificate, detail: "not a DER X.509 certificate: \(error)"))
        }
        let policies = certificate.policyOIDs.map(\.description)
        // The policy is what tells a CIE apart: its certificate never falls through to the CNS
        // rules, so switching `cie` off cannot let a loosened CNS profile accept it as a CNS.
        if let ciePolicy = policies.first(where: profile.ciePolicyOIDs.contains) {
            return evaluateCIE(certificate, leafDER, profile, policy: ciePolicy)
        }
        guard profile.kinds.contains(.cns) else {
            let isCNS = policies.contains(where: profile.policyOIDs.contains)
            return .failure(CNSRejection(
                reason: .notCNSCertificate,
                detail: isCNS ? "a CNS authentication certificate, and [profile] cns is off"
                    : "no CIE policy (\(policies.isEmpty ? "no certificatePolicies" : "policies \(policies.joined(separator: ", "))"); accepted: \(profile.ciePolicyOIDs.joined(separator: ", ")))",
                kind: isCNS ? .cns : nil))
        }
        if let rejection = usageRejection(certificate, profile, kind: .cns) {
            return .failure(rejection)
        }

        var notCNS: String
        if profile.policyOIDs.isEmpty || policies.contains(where: profile.policyOIDs.contains) {
            switch commonNameMatch(certificate.subject, kind: .cns, requireCNFormat: profile.requireCNFormat) {
            case .matched(let codiceFiscale, let cardID, let hash):
                return .success(identity(certificate, leafDER, .cns, codiceFiscale, cardID: cardID, hash: hash, source: .commonName))
            case .rejected(let rejection):
                return .failure(rejection)
            case .notShaped(let detail):
                notCNS = detail
            }
        } else {
            let found = policies.isEmpty ? "no certificatePolicies" : "policies \(policies.joined(separator: ", "))"
            notCNS = "no accepted CNS policy (\(found); accepted: \(profile.policyOIDs.joined(separator: ", ")))"
        }

        if profile.allowCNSLike {
            switch serialNumberMatch(certificate.subject) {
            case .matched(let codiceFiscale, _, _):
                return .success(identity(certificate, leafDER, .cns, codiceFiscale, source: .serialNumber))
            case .rejected(let rejection):
                return .failure(rejection)
            case .notShaped(let detail):
                notCNS += "; not CNS-like either: \(detail)"
            }
        }
        return .failure(CNSRejection(reason: .notCNSCertificate, detail: notCNS))
    }

    /// A certificate with the CIE policy: usage (but not extendedKeyUsage, unknown for the CIE),
    /// then the CN `<CF>/<12 digits>`; the document number comes from serialNumber `IDCIT-<n>`.
    private static func evaluateCIE(
        _ certificate: LeafCertificate, _ der: [UInt8], _ profile: CNSProfile, policy: String
    ) -> Result<CNSIdentity, CNSRejection> {
        guard profile.kinds.contains(.cie) else {
            return .failure(CNSRejection(
                reason: .notCNSCertificate,
                detail: "a CIE authentication certificate (policy \(policy)), and [profile] cie is off", kind: .cie))
        }
        if let rejection = usageRejection(certificate, profile, kind: .cie) {
            return .failure(rejection)
        }
        switch commonNameMatch(certificate.subject, kind: .cie, requireCNFormat: profile.requireCNFormat) {
        case .matched(let codiceFiscale, let number, _):
            return .success(identity(certificate, der, .cie, codiceFiscale, cnNumber: number,
                                     documentNumber: documentNumber(certificate.subject), source: .commonName))
        case .rejected(let rejection):
            return .failure(rejection)
        case .notShaped(let detail):
            return .failure(CNSRejection(reason: .notCNSCertificate, detail: "CIE policy \(policy), but \(detail)"))
        }
    }

    /// `IDCIT-<document number>`: the number as printed on the card (CIE 3.0: two letters, five
    /// digits, two letters). Display data: anything else is no number, never a refusal.
    private static func documentNumber(_ subject: Name) -> String? {
        let values = subject.values(of: Name.serialNumber)
        guard values.count == 1, let text = values[0].text, text.hasPrefix("IDCIT-") else { return nil }
        let number = text.dropFirst(6)
        guard (1...20).contains(number.utf8.count),
            number.utf8.allSatisfy({ CodiceFiscale.isDigit($0) || CodiceFiscale.isLetter($0) })
        else { return nil }
        return String(number)
    }

    private static func usageRejection(_ certificate: LeafCertificate, _ profile: CNSProfile, kind: CardKind) -> CNSRejection? {
        let keyUsage = certificate.keyUsage
        if profile.requireDigitalSignature, let keyUsage, keyUsage.nonRepudiation, !keyUsage.digitalSignature {
            return CNSRejection(
                reason: .signatureCertificate,
                detail: "keyUsage is nonRepudiation without digitalSignature: this is the card's signature certificate, not its authentication certificate",
                kind: kind)
        }
        if kind == .cns, profile.requireClientAuthWhenEKUPresent, let eku = certificate.extendedKeyUsage, !eku.contains(.clientAuth) {
            let usages = eku.map { String(describing: $0) }.joined(separator: ", ")
            return CNSRejection(
                reason: .signatureCertificate,
                detail: "extendedKeyUsage (\(usages)) lacks clientAuth: not usable to log in", kind: kind)
        }
        if profile.requireDigitalSignature {
            guard let keyUsage else {
                return CNSRejection(reason: .notCNSCertificate, detail: "no keyUsage extension (an authentication certificate asserts digitalSignature)")
            }
            guard keyUsage.digitalSignature else {
                return CNSRejection(reason: .notCNSCertificate, detail: "keyUsage (\(keyUsage)) lacks digitalSignature")
            }
        }
        return nil
    }

    private enum Match {
        /// CNS: the card id and hash; CIE: the 12-digit number (in `cardID`), no hash.
        case matched(CodiceFiscale, cardID: String?, hash: String?)
        case rejected(CNSRejection)
        case notShaped(String)
    }

    private static func commonNameMatch(_ subject: Name, kind: CardKind, requireCNFormat: Bool) -> Match {
        let commonNames = subject.values(of: Name.commonName)
        guard commonNames.count == 1 else {
            return .notShaped("subject has \(commonNames.count) CN attributes, expected 1")
        }
        guard let commonName = commonNames[0].text else {
            return .notShaped("subject CN is not a string")
        }
        // Split on the first `/` only: the Base64 hash after it may itself contain `/`.
        let slash = commonName.firstIndex(of: "/")
        let prefix = commonName[..<(slash ?? commonName.endIndex)]
        let suffix = slash.map { commonName[commonName.index(after: $0)...] }
        let cardAndHash: (cardID: String, hash: String?)? = switch kind {
        case .cns: suffix.flatMap(cardIDAndHash).map { ($0.cardID, $0.hash) }
        case .cie: suffix.flatMap(cieNumber).map { ($0, nil) }
        }
        if requireCNFormat {
            guard cardAndHash != nil else {
                return .notShaped(kind == .cns ? "subject CN is not <CF>/<16-digit card id>.<28-character hash>"
                                               : "subject CN is not <CF>/<12 digits>")
            }
        } else {
            let trimmed = prefix.filter { !$0.isWhitespace }
            guard trimmed.count == 16, trimmed.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                return .notShaped("subject CN does not start with a 16-character fiscal code")
            }
        }
        switch personalCode(String(prefix), where: "subject CN", kind: kind) {
        case .success(let codiceFiscale):
            return .matched(codiceFiscale, cardID: cardAndHash?.cardID, hash: cardAndHash?.hash)
        case .failure(let rejection):
            return .rejected(rejection)
        }
    }

    private static func serialNumberMatch(_ subject: Name) -> Match {
        let serialNumbers = subject.values(of: Name.serialNumber)
        guard serialNumbers.count == 1, let serialNumber = serialNumbers[0].text else {
            return .notShaped("subject has \(serialNumbers.count) serialNumber attributes, expected one TINIT-<CF> or IT:<CF>")
        }
        let code: Substring
        if serialNumber.hasPrefix("TINIT-") {
            code = serialNumber.dropFirst(6)
        } else if serialNumber.hasPrefix("IT:") {
            code = serialNumber.dropFirst(3)
        } else {
            return .notShaped("subject serialNumber is not TINIT-<CF> or IT:<CF>")
        }
        switch personalCode(String(code), where: "subject serialNumber", kind: .cns) {
        case .success(let codiceFiscale):
            return .matched(codiceFiscale, cardID: nil, hash: nil)
        case .failure(let rejection):
            return .rejected(rejection)
        }
    }

    private static func personalCode(_ text: String, where field: String, kind: CardKind) -> Result<CodiceFiscale, CNSRejection> {
        do {
            let codiceFiscale = try CodiceFiscale(text)
            guard codiceFiscale.kind == .personal else {
                return .failure(CNSRejection(
                    reason: .invalidFiscalCode,
                    detail: "\(field): \(codiceFiscale.value) is a legal entity's numeric code, not a person's", kind: kind))
            }
            return .success(codiceFiscale)
        } catch {
            return .failure(CNSRejection(
                reason: .invalidFiscalCode, detail: "\(field): \(error.code.rawValue): \(error.reason)", kind: kind))
        }
    }

    /// The CIE's `<12 digits>` after the CF.
    private static func cieNumber(_ text: Substring) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count == 12, bytes.allSatisfy(CodiceFiscale.isDigit) else { return nil }
        return String(text)
    }

    /// `<16 digits>.<28 Base64 characters>` (CNS.md section 1: 20 bytes of hash).
    private static func cardIDAndHash(_ text: Substring) -> (cardID: String, hash: String)? {
        let bytes = Array(text.utf8)
        guard bytes.count == 45, bytes[16] == UInt8(ascii: "."),
            bytes[0..<16].allSatisfy(CodiceFiscale.isDigit)
        else { return nil }
        let hash = bytes[17...]
        let padding = hash.reversed().prefix { $0 == UInt8(ascii: "=") }.count
        guard padding <= 2, hash.dropLast(padding).allSatisfy(isBase64) else { return nil }
        return (String(decoding: bytes[0..<16], as: UTF8.self), String(decoding: hash, as: UTF8.self))
    }

    private static func isBase64(_ byte: UInt8) -> Bool {
        CodiceFiscale.isLetter(byte) || CodiceFiscale.isDigit(byte) || (0x61...0x7A).contains(byte)
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/")
    }

    private static func identity(
        _ certificate: LeafCertificate, _ der: [UInt8], _ kind: CardKind, _ codiceFiscale: CodiceFiscale,
        cardID: String? = nil, hash: String? = nil, cnNumber: String? = nil, documentNumber: String? = nil,
        source: CNSIdentity.Source
    ) -> CNSIdentity {
        let subject = certificate.subject
        return CNSIdentity(
            kind: kind,
            codiceFiscale: codiceFiscale,
            cardID: cardID,
            cnHash: hash,
            documentNumber: documentNumber,
            cnNumber: cnNumber,
            givenName: subject.values(of: Name.givenName).first?.text,
            surname: subject.values(of: Name.surname).first?.text,
            administration: subject.values(of: Name.organizationalUnit).first?.text,
            organization: subject.values(of: Name.organization).first?.text,
            subject: subject.text,
            issuer: certificate.issuer.text,
            serialHex: certificate.serialHex,
            notBefore: certificate.notBefore,
            notAfter: certificate.notAfter,
            keyAlgorithm: certificate.keyAlgorithm,
            keyBits: certificate.keyBits,
            signatureAlgorithm: LeafCertificate.signatureAlgorithmName(certificate.signatureAlgorithm),
            policyOIDs: certificate.policyOIDs.map(\.description),
            sha256Thumbprint: hex(SHA256.hash(data: der), uppercase: false),
            source: source)
    }
}
