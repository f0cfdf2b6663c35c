public import JSON
public import CNS
public import FoundationEssentials

/// What a login proved, kept with the code, the session and the issued tokens: the holder's
/// data from the card certificate and the certificate's own facts.
public struct LoginSubject: Sendable, Equatable {
    /// The card the citizen logged in with; it decides `acr` and `amr`.
    public var cardKind: CardKind
    public var codiceFiscale: String
    public var givenName: String?
    public var familyName: String?
    public var cardID: String?
    /// A CIE's document number (never released as a claim: display and audit data).
    public var documentNumber: String?
    public var administration: String?
    public var certificateSerial: String
    public var certificateIssuer: String
    /// Lowercase hex SHA-256 of the card certificate (DER).
    public var thumbprint: String

    public init(cardKind: CardKind = .cns, codiceFiscale: String, givenName: String?, familyName: String?, cardID: String?,
                documentNumber: String? = nil, administration: String?,
                certificateSerial: String, certificateIssuer: String, thumbprint: String) {
        self.cardKind = cardKind
        self.documentNumber = documentNumber
        self.codiceFiscale = codiceFiscale
        self.givenName = givenName
        self.familyName = familyName
        self.cardID = cardID
        self.administration = administration
        self.certificateSerial = certificateSerial
        self.certificateIssuer = certificateIssuer
        self.thumbprint = thumbprint.lowercased()
    }

    public init(identity: CNSIdentity) {
        self.init(cardKind: identity.kind, codiceFiscale: identity.codiceFiscale.value, givenName: identity.givenName,
                  familyName: identity.surname, cardID: identity.cardID, documentNumber: identity.documentNumber,
                  administration: identity.administration,
                  certificateSerial: identity.serialHex, certificateIssuer: identity.issuer,
                  thumbprint: identity.sha256Thumbprint)
    }

    public var jsonValue: JSONValue {
        var o: [String: JSONValue] = [
            "cf": .string(codiceFiscale), "serial": .string(certificateSerial), "issuer": .string(certificateIssuer),
            "x5t": .string(thumbprint),
        ]
        if let givenName { o["gn"] = .string(givenName) }
        if let familyName { o["sn"] = .string(familyName) }
        if let cardID { o["card"] = .string(cardID) }
        if let administration { o["ou"] = .string(administration) }
        o["kind"] = .string(cardKind.rawValue)
        if let documentNumber { o["doc"] = .string(documentNumber) }
        return .object(o)
    }

    public init?(jsonValue json: JSONValue) {
        guard let cf = json["cf"]?.stringValue, let serial = json["serial"]?.stringValue,
              let issuer = json["issuer"]?.stringValue, let x5t = json["x5t"]?.stringValue else { return nil }
        // No "kind": a record written before card kinds existed, all of them CNS logins.
        let kind: CardKind
        if let text = json["kind"]?.stringValue {
            guard let known = CardKind(rawValue: text) else { return nil }
            kind = known
        } else {
            kind = .cns
        }
        self.init(cardKind: kind, codiceFiscale: cf, givenName: json["gn"]?.stringValue, familyName: json["sn"]?.stringValue,
                  cardID: json["card"]?.stringValue, documentNumber: json["doc"]?.stringValue, administration: json["ou"]?.stringValue,
                  certificateSerial: serial, certificateIssuer: issuer, thumbprint: x5t)
    }

    /// RFC 8705 section 3.1: base64url of the certificate's SHA-256.
    public var x5tS256: String { Base64URL.encode(Hex.decode(thumbprint) ?? []) }
}

/// The claims the provider can release, grouped by the scope that asks for them.
public enum ClaimCatalog {
    public static let fiscalNumber = "fiscal_number"
    public static let eidFiscalNumber = "https://attributes.eid.gov.it/fiscal_number"
    public static let cardID = "cns_card_id"
    public static let administration = "cns_issuing_administration"

    public static let scopes: [String: [String]] = [
        "openid": ["sub"],
        "profile": ["given_name", "family_name", "name", "birthdate", "gender"],
        "fiscal_number": [fiscalNumber, eidFiscalNumber],
        "cns": [cardID, administration],
    ]

    public static let supportedScopes = ["openid", "profile", "fiscal_number", "cns"]

    /// Every claim name the provider may emit (discovery `claims_supported`).
    public static let supportedClaims: [String] = [
        "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
        "given_name", "family_name", "name", "birthdate", "gender", fiscalNumber, eidFiscalNumber, cardID, administration,
    ]

    /// RFC 8176's registered methods (smart card, PIN, hardware-protected key), true of both
    /// cards, then the card itself: `cns` or `cie`, the names `[profile]` uses (RFC 8176
    /// section 2 leaves values outside the registry to the parties' agreement; README documents them).
    public static func amr(for kind: CardKind) -> JSONValue {
        ["sc", "pin", "hwk", .string(kind.rawValue)]
    }

    /// The user claims for `scopes`, limited to `allowed` claim names, for `subject`.
    /// Birth date and gender come from the Codice Fiscale (CNS.md section 4); names from the certificate.
    public static func userClaims(for subject: LoginSubject, scopes: [String], allowed: Set<String>, now: Date = Date()) -> [String: JSONValue] {
        var names = Set<String>()
        for scope in scopes { names.formUnion(Self.scopes[scope] ?? []) }
        names.remove("sub")
        names.formIntersection(allowed)
        var claims: [String: JSONValue] = [:]
        let cf = try? CodiceFiscale(subject.codiceFiscale)
        for name in names {
            switch name {
            case "given_name": if let v = subject.givenName { claims[name] = .string(v) }
            case "family_name": if let v = subject.familyName { claims[name] = .string(v) }
            case "name":
                let parts = [subject.givenName, subject.familyName].compactMap { $0 }
                if !parts.isEmpty { claims[name] = .string(parts.joined(separator: " ")) }
            case "birthdate":
                if let date = cf?.birthDateText(relativeTo: now) { claims[name] = .string(date) }
            case "gender":
                switch cf?.sex {
                case .female?: claims[name] = "female"
                case .male?: claims[name] = "male"
                case nil: break
                }
            case fiscalNumber, eidFiscalNumber:
                claims[name] = .string("TINIT-\(subject.codiceFiscale)")
            case cardID: if let v = subject.cardID { claims[name] = .string(v) }
            case administration: if let v = subject.administration { claims[name] = .string(v) }
            default: break
            }
        }
        return claims
    }
}
