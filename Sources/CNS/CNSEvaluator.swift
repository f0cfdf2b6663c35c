import Crypto
import X509

/// Decides whether a leaf certificate is a CNS authentication certificate and reads the
/// holder's identity from it. It does not verify the chain, the validity dates or revocation:
/// that is the TLS layer's job, done before this is called.
///
/// Checks, in this order (the first failure is the answer):
/// 1. The DER parses (`malformed_certificate`).
/// 2. Usage. nonRepudiation without digitalSignature, or an extendedKeyUsage without clientAuth,
///    is `signature_certificate`. This comes before every other profile check on purpose: the
///    card's signature certificate also fails the policy and CN checks, and "you chose the
///    signature certificate, choose the other one" is the message that helps the citizen.
///    Then a missing keyUsage or one without digitalSignature is `not_cns_certificate`.
/// 3. Policy: one of `profile.policyOIDs`.
/// 4. CN `<CF>/<card id>.<hash>`, split on the first `/` only (the Base64 hash may contain `/`).
///    A CN of that shape whose CF does not validate as a personal code is `invalid_fiscal_code`.
/// 5. Only when 3 or 4 failed and `profile.allowCNSLike`: a single subject serialNumber
///    `TINIT-<CF>` or `IT:<CF>` (`invalid_fiscal_code` if that CF does not validate).
/// 6. Otherwise `not_cns_certificate`, saying whether the policy or the CN was missing.
public enum CNSEvaluator {
    public static func evaluate(leafDER: [UInt8], profile: CNSProfile = .standard) -> Result<CNSIdentity, CNSRejection> {
        let certificate: LeafCertificate
        do {
            certificate = try LeafCertificate(derEncoded: leafDER)
        } catch {
            return .failure(CNSRejection(reason: .malformedCertificate, detail: "not a DER X.509 certificate: \(error)"))
        }
        if let rejection = usageRejection(certificate, profile) {
            return .failure(rejection)
        }

        let policies = certificate.policyOIDs.map(\.description)
        var notCNS: String
        if profile.policyOIDs.isEmpty || policies.contains(where: profile.policyOIDs.contains) {
            switch commonNameMatch(certificate.subject, requireCNFormat: profile.requireCNFormat) {
            case .matched(let codiceFiscale, let cardID, let hash):
                return .success(identity(certificate, leafDER, codiceFiscale, cardID, hash, .commonName))
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
                return .success(identity(certificate, leafDER, codiceFiscale, nil, nil, .serialNumber))
            case .rejected(let rejection):
                return .failure(rejection)
            case .notShaped(let detail):
                notCNS += "; not CNS-like either: \(detail)"
            }
        }
        return .failure(CNSRejection(reason: .notCNSCertificate, detail: notCNS))
    }

    private static func usageRejection(_ certificate: LeafCertificate, _ profile: CNSProfile) -> CNSRejection? {
        let keyUsage = certificate.keyUsage
        if profile.requireDigitalSignature, let keyUsage, keyUsage.nonRepudiation, !keyUsage.digitalSignature {
            return CNSRejection(
                reason: .signatureCertificate,
                detail: "keyUsage is nonRepudiation without digitalSignature: this is the card's signature certificate, not its authentication certificate")
        }
        if profile.requireClientAuthWhenEKUPresent, let eku = certificate.extendedKeyUsage, !eku.contains(.clientAuth) {
            let usages = eku.map { String(describing: $0) }.joined(separator: ", ")
            return CNSRejection(
                reason: .signatureCertificate,
                detail: "extendedKeyUsage (\(usages)) lacks clientAuth: not usable to log in")
        }
        if profile.requireDigitalSignature {
            guard let keyUsage else {
                return CNSRejection(reason: .notCNSCertificate, detail: "no keyUsage extension (CNS asserts digitalSignature)")
            }
            guard keyUsage.digitalSignature else {
                return CNSRejection(reason: .notCNSCertificate, detail: "keyUsage (\(keyUsage)) lacks digitalSignature")
            }
        }
        return nil
    }

    private enum Match {
        case matched(CodiceFiscale, cardID: String?, hash: String?)
        case rejected(CNSRejection)
        case notShaped(String)
    }

    private static func commonNameMatch(_ subject: Name, requireCNFormat: Bool) -> Match {
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
        let cardAndHash = slash.flatMap { cardIDAndHash(commonName[commonName.index(after: $0)...]) }
        if requireCNFormat {
            guard cardAndHash != nil else {
                return .notShaped("subject CN is not <CF>/<16-digit card id>.<28-character hash>")
            }
        } else {
            let trimmed = prefix.filter { !$0.isWhitespace }
            guard trimmed.count == 16, trimmed.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                return .notShaped("subject CN does not start with a 16-character fiscal code")
            }
        }
        switch personalCode(String(prefix), where: "subject CN") {
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
        switch personalCode(String(code), where: "subject serialNumber") {
        case .success(let codiceFiscale):
            return .matched(codiceFiscale, cardID: nil, hash: nil)
        case .failure(let rejection):
            return .rejected(rejection)
        }
    }

    private static func personalCode(_ text: String, where field: String) -> Result<CodiceFiscale, CNSRejection> {
        do {
            let codiceFiscale = try CodiceFiscale(text)
            guard codiceFiscale.kind == .personal else {
                return .failure(CNSRejection(
                    reason: .invalidFiscalCode,
                    detail: "\(field): \(codiceFiscale.value) is a legal entity's numeric code, not a person's"))
            }
            return .success(codiceFiscale)
        } catch {
            return .failure(CNSRejection(
                reason: .invalidFiscalCode, detail: "\(field): \(error.code.rawValue): \(error.reason)"))
        }
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
        _ certificate: LeafCertificate, _ der: [UInt8], _ codiceFiscale: CodiceFiscale,
        _ cardID: String?, _ hash: String?, _ source: CNSIdentity.Source
    ) -> CNSIdentity {
        let subject = certificate.subject
        return CNSIdentity(
            codiceFiscale: codiceFiscale,
            cardID: cardID,
            cnHash: hash,
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
