import JSON
import CNS
import FoundationEssentials
import TLS

/// `cns-gateway inspect-cert`: what the gateway reads from a certificate and the verdict
/// it would give, computed by the same code the handshake uses.
public enum CertificateInspection {
    public struct Output: Sendable {
        public var text: String
        public var accepted: Bool
    }

    public static func run(file: String, configPath: String?, json: Bool) throws -> Output {
        let certificates = try CertificateFile.load(path: file)
        let leaf = certificates[0]
        var profile = ProfileSettings()
        var chain: CertificateVerdict? = nil
        var source: RevocationSource? = nil
        var ocspFailure: String? = nil
        if let configPath {
            let config = try GatewayConfig.load(path: configPath)
            profile = config.profile
            let trust = try TrustStore(config.trust)
            let intermediates = Array(certificates.dropFirst())
            var verified = trust.verify(leafDER: leaf, intermediatesDER: intermediates)
            source = OCSPJudgement.crlSource(verified)
            // With [trust] ocsp on, the card's responder is asked as at a login (no cache).
            if OCSPJudgement.wanted(verified, settings: config.ocsp) {
                let outcome = trust.ocspQuestion(leafDER: leaf, intermediatesDER: intermediates)
                    .map { OCSPClient.ask($0, settings: config.ocsp, cache: OCSPCache()) } ?? .failed("the issuing CA was not found")
                let combined = OCSPJudgement.combine(verified, outcome, mode: config.ocsp.mode)
                (verified, source, ocspFailure) = (combined.chain, combined.source, combined.failure)
            }
            chain = verified
        }
        let peer = PeerCertificate(der: leaf)
        // Without a trust configuration only the profile can be judged.
        let chainVerdict = chain ?? CertificateVerdict(reason: .ok, opensslCode: 0)
        var verdict = CardVerdict.evaluate(chain: chainVerdict, peer: peer, profile: profile)
        verdict.revocationSource = source
        verdict.ocspFailure = ocspFailure
        let report = VerdictReport(verdict: verdict, chainChecked: chain != nil)
        if json {
            return Output(text: JSONValue.object(report.dictionary(file: file)).prettyText, accepted: verdict.accepted)
        }
        return Output(text: report.humanText(file: file), accepted: verdict.accepted)
    }
}

/// The verdict in the shapes /whoami, /verifica and inspect-cert share.
struct VerdictReport {
    let verdict: CardVerdict
    let chainChecked: Bool

    func dictionary(file: String? = nil) -> [String: JSONValue] {
        var out: [String: JSONValue] = [
            "reason": .string(verdict.reason), "accepted": .bool(verdict.accepted),
            "card_kind": verdict.kind.map { .string($0.rawValue) } ?? .null,
        ]
        if let file { out["file"] = .string(file) }
        if let peer = verdict.peer { out["certificate"] = .object(Self.certificateDictionary(peer)) }
        out["chain"] = chainChecked
            ? ["reason": .string(verdict.chain.reason.rawValue), "openssl_code": .int(Int(verdict.chain.opensslCode)),
               "openssl_error": .string(verdict.chain.opensslError),
               "revocation_source": verdict.revocationSource.map { .string($0.rawValue) } ?? .null]
            : .null
        if let failure = verdict.ocspFailure { out["ocsp_failure"] = .string(failure) }
        if let rejection = verdict.rejection {
            out["profile"] = ["reason": .string(rejection.reason.rawValue), "detail": .string(rejection.detail)]
        } else {
            out["profile"] = ["reason": verdict.identity == nil ? "not_checked" : "ok"]
        }
        out["identity"] = verdict.identity.map { .object(VerdictReport.identityDictionary($0)) } ?? .null
        return out
    }

    static func certificateDictionary(_ peer: PeerCertificate) -> [String: JSONValue] {
        var cert: [String: JSONValue] = [
            "subject": .string(peer.subject), "issuer": .string(peer.issuer), "serial": .string(peer.serialHex), "sha256": .string(peer.sha256),
        ]
        if let d = peer.notBefore { cert["not_before"] = .string(ISO8601.string(d)) }
        if let d = peer.notAfter { cert["not_after"] = .string(ISO8601.string(d)) }
        return cert
    }

    static func identityDictionary(_ identity: CNSIdentity) -> [String: JSONValue] {
        let cf = identity.codiceFiscale
        var out: [String: JSONValue] = [
            "kind": .string(identity.kind.rawValue),
            "fiscal_code": .string(cf.value),
            "key": .string("\(identity.keyAlgorithm) \(identity.keyBits)"),
            "signature_algorithm": .string(identity.signatureAlgorithm),
            "policies": .array(identity.policyOIDs.map(JSONValue.string)),
            "source": .string(identity.source.rawValue),
        ]
        if let v = identity.cardID { out["card_id"] = .string(v) }
        if let v = identity.documentNumber { out["document_number"] = .string(v) }
        if let v = identity.cnNumber { out["cn_number"] = .string(v) }
        if let v = identity.givenName { out["given_name"] = .string(v) }
        if let v = identity.surname { out["family_name"] = .string(v) }
        if let v = identity.administration { out["administration"] = .string(v) }
        if let v = identity.organization { out["organization"] = .string(v) }
        if let sex = cf.sex { out["gender"] = sex == .female ? "female" : "male" }
        if let birth = cf.birthDateText() { out["birthdate"] = .string(birth) }
        if let place = cf.placeCode { out["birth_place_code"] = .string(place) }
        return out
    }

    func humanText(file: String) -> String {
        var lines: [String] = ["\(file):"]
        if let peer = verdict.peer {
            lines.append("  subject:   \(peer.subject)")
            lines.append("  issuer:    \(peer.issuer)")
            lines.append("  serial:    \(peer.serialHex)")
            lines.append("  sha256:    \(peer.sha256)")
            if let d = peer.notBefore, let e = peer.notAfter { lines.append("  validity:  \(ISO8601.string(d)) .. \(ISO8601.string(e))") }
        } else {
            lines.append("  (the certificate does not parse)")
        }
        if let kind = verdict.kind { lines.append("  card:      \(Self.kindName(kind))") }
        if let identity = verdict.identity {
            lines.append("  Codice Fiscale: \(identity.codiceFiscale.value)")
            if let name = [identity.givenName, identity.surname].compactMap({ $0 }).joined(separator: " ").nilIfEmpty {
                lines.append("  name:      \(name)")
            }
            if let card = identity.cardID { lines.append("  card id:   \(card)") }
            if let number = identity.documentNumber { lines.append("  document:  \(number)") }
            if let ou = identity.administration { lines.append("  issued by: \(ou)") }
            lines.append("  key:       \(identity.keyAlgorithm) \(identity.keyBits) bit, \(identity.signatureAlgorithm)")
        }
        if chainChecked {
            lines.append("  chain:     \(verdict.chain.reason.rawValue) (OpenSSL \(verdict.chain.opensslCode): \(verdict.chain.opensslError))")
            if let source = verdict.revocationSource {
                let meaning = switch source {
                case .crl: "the CA's CRL"
                case .ocsp: "the CA's OCSP responder"
                case .cache: "an earlier OCSP answer"
                case .none: "none (best-effort: no current CRL)"
                }
                lines.append("  revocation: \(meaning)")
            }
            if let failure = verdict.ocspFailure { lines.append("  OCSP:      no usable answer: \(failure)") }
        } else {
            lines.append("  chain:     not checked (give --config to check trust and revocation)")
        }
        if let rejection = verdict.rejection { lines.append("  profile:   \(rejection.reason.rawValue): \(rejection.detail)") }
        lines.append("  verdict:   \(verdict.reason)\(verdict.accepted ? " (would be accepted)" : " (would be refused)")")
        return lines.joined(separator: "\n")
    }
}

extension VerdictReport {
    static func kindName(_ kind: CardKind) -> String {
        switch kind {
        case .cns: "cns (TS-CNS, Carta Nazionale dei Servizi)"
        case .cie: "cie (CIE, Carta d'Identità Elettronica)"
        }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
