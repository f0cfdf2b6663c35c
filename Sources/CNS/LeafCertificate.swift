import FoundationEssentials
import SwiftASN1
import X509

/// The fields of an X.509 certificate that the CNS profile reads.
///
/// Why not `X509.Certificate(derEncoded:)`: it decodes the public key through swift-crypto,
/// which refuses RSA keys under 2048 bits, and CNS 1.0 cards (issued until about 2021, valid
/// about 6 years) hold RSA-1024 keys. Whether such a key is acceptable is the TLS layer's
/// legacy-issuer decision, not a parse error, so the envelope (RFC 5280 section 4.1) is walked
/// here and the extensions are still decoded by swift-certificates.
struct LeafCertificate {
    /// The serialNumber INTEGER's content bytes (two's complement, minimal).
    var serialBytes: ArraySlice<UInt8>
    var signatureAlgorithm: ASN1ObjectIdentifier
    var issuer: Name
    var subject: Name
    var notBefore: Date
    var notAfter: Date
    var keyAlgorithm: String
    var keyBits: Int
    var extensions: Certificate.Extensions
    var keyUsage: KeyUsage?
    var extendedKeyUsage: ExtendedKeyUsage?
    var policyOIDs: [ASN1ObjectIdentifier]

    struct ParseError: Error {
        var reason: String
    }

    init(derEncoded bytes: [UInt8]) throws {
        let root = try DER.parse(bytes)
        var tbsNode: ASN1Node?
        var outerAlgorithm: ASN1ObjectIdentifier?
        try DER.sequence(root, identifier: .sequence) { nodes in
            tbsNode = nodes.next()
            outerAlgorithm = try Self.algorithmIdentifier(nodes.next()).oid
            _ = try ASN1BitString(derEncoded: &nodes)
        }
        guard let tbsNode, let outerAlgorithm else {
            throw ParseError(reason: "certificate SEQUENCE is incomplete")
        }
        self.signatureAlgorithm = outerAlgorithm

        var fields: (
            serial: ArraySlice<UInt8>, issuer: Name, subject: Name, notBefore: Date, notAfter: Date,
            keyAlgorithm: String, keyBits: Int, extensions: Certificate.Extensions
        )?
        try DER.sequence(tbsNode, identifier: .sequence) { nodes in
            let version = try DER.decodeDefaultExplicitlyTagged(
                &nodes, tagNumber: 0, tagClass: .contextSpecific, defaultValue: 0) as Int
            guard (0...2).contains(version) else {
                throw ParseError(reason: "unknown certificate version \(version + 1)")
            }
            let serial = try ArraySlice<UInt8>(derEncoded: &nodes)
            let innerAlgorithm = try Self.algorithmIdentifier(nodes.next()).oid
            // RFC 5280 section 4.1.1.2: the signed and the unsigned algorithm must match.
            guard innerAlgorithm == outerAlgorithm else {
                throw ParseError(reason: "signature algorithm \(innerAlgorithm) inside differs from \(outerAlgorithm) outside")
            }
            let issuer = try Name(derEncoded: Self.required(nodes.next(), "issuer"))
            let (notBefore, notAfter) = try DER.sequence(
                Self.required(nodes.next(), "validity"), identifier: .sequence
            ) { validity in
                (try Self.time(validity.next()), try Self.time(validity.next()))
            }
            let subject = try Name(derEncoded: Self.required(nodes.next(), "subject"))
            let (keyAlgorithm, keyBits) = try Self.publicKeyInfo(Self.required(nodes.next(), "subjectPublicKeyInfo"))

            var extensions = Certificate.Extensions()
            while let node = nodes.next() {
                switch node.identifier {
                case ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific),
                    ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific):
                    continue  // issuerUniqueID / subjectUniqueID: nothing we read
                case ASN1Identifier(tagWithNumber: 3, tagClass: .contextSpecific):
                    let list = try DER.explicitlyTagged(node, tagNumber: 3, tagClass: .contextSpecific) { inner in
                        try DER.sequence(of: Certificate.Extension.self, identifier: .sequence, rootNode: inner)
                    }
                    // Rejects duplicate extensions (RFC 5280 section 4.2).
                    extensions = try Certificate.Extensions(list)
                default:
                    throw ParseError(reason: "unexpected field \(node.identifier) in TBSCertificate")
                }
            }
            fields = (serial, issuer, subject, notBefore, notAfter, keyAlgorithm, keyBits, extensions)
        }
        guard let fields else { throw ParseError(reason: "TBSCertificate is incomplete") }
        self.serialBytes = fields.serial
        self.issuer = fields.issuer
        self.subject = fields.subject
        self.notBefore = fields.notBefore
        self.notAfter = fields.notAfter
        self.keyAlgorithm = fields.keyAlgorithm
        self.keyBits = fields.keyBits
        self.extensions = fields.extensions
        self.keyUsage = try fields.extensions.keyUsage
        self.extendedKeyUsage = try fields.extensions.extendedKeyUsage
        self.policyOIDs = try fields.extensions[oid: Self.certificatePoliciesOID].map(Self.policies) ?? []
    }

    static let certificatePoliciesOID: ASN1ObjectIdentifier = [2, 5, 29, 32]

    private static func required(_ node: ASN1Node?, _ field: String) throws -> ASN1Node {
        guard let node else { throw ParseError(reason: "TBSCertificate has no \(field)") }
        return node
    }

    /// AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }
    private static func algorithmIdentifier(_ node: ASN1Node?) throws -> (oid: ASN1ObjectIdentifier, parameters: ASN1Node?) {
        try DER.sequence(required(node, "algorithm identifier"), identifier: .sequence) { nodes in
            (try ASN1ObjectIdentifier(derEncoded: &nodes), nodes.next())
        }
    }

    /// Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }
    private static func time(_ node: ASN1Node?) throws -> Date {
        let node = try required(node, "validity time")
        switch node.identifier {
        case .utcTime:
            // SwiftASN1 applies RFC 5280's window: YY < 50 is 20YY, otherwise 19YY.
            let time = try UTCTime(derEncoded: node)
            return CivilDate.date(
                year: time.year, month: time.month, day: time.day,
                hours: time.hours, minutes: time.minutes, seconds: Double(time.seconds))
        case .generalizedTime:
            let time = try GeneralizedTime(derEncoded: node)
            return CivilDate.date(
                year: time.year, month: time.month, day: time.day,
                hours: time.hours, minutes: time.minutes, seconds: Double(time.seconds) + time.fractionalSeconds)
        default:
            throw ParseError(reason: "validity time is \(node.identifier), not UTCTime or GeneralizedTime")
        }
    }

    private static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 1, 1]
    private static let rsaPSS: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 1, 10]
    private static let ecPublicKey: ASN1ObjectIdentifier = [1, 2, 840, 10_045, 2, 1]
    private static let ed25519: ASN1ObjectIdentifier = [1, 3, 101, 112]
    private static let ed448: ASN1ObjectIdentifier = [1, 3, 101, 113]
    private static let curveBits: [ASN1ObjectIdentifier: Int] = [
        [1, 2, 840, 10_045, 3, 1, 7]: 256,  // P-256
        [1, 3, 132, 0, 34]: 384,  // P-384
        [1, 3, 132, 0, 35]: 521,  // P-521
        [1, 3, 132, 0, 10]: 256,  // secp256k1
        [1, 3, 36, 3, 3, 2, 8, 1, 1, 7]: 256,  // brainpoolP256r1
        [1, 3, 36, 3, 3, 2, 8, 1, 1, 11]: 384,  // brainpoolP384r1
        [1, 3, 36, 3, 3, 2, 8, 1, 1, 13]: 512,  // brainpoolP512r1
    ]

    /// SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
    private static func publicKeyInfo(_ node: ASN1Node) throws -> (algorithm: String, bits: Int) {
        try DER.sequence(node, identifier: .sequence) { nodes in
            let algorithm = try algorithmIdentifier(nodes.next())
            let key = try ASN1BitString(derEncoded: &nodes)
            switch algorithm.oid {
            case rsaEncryption, rsaPSS:
                // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
                let modulus = try DER.sequence(DER.parse(key.bytes), identifier: .sequence) { fields in
                    let modulus = try ArraySlice<UInt8>(derEncoded: &fields)
                    _ = try ArraySlice<UInt8>(derEncoded: &fields)
                    return modulus
                }
                let magnitude = modulus.drop { $0 == 0 }
                let bits = magnitude.first.map { (magnitude.count - 1) * 8 + (8 - $0.leadingZeroBitCount) } ?? 0
                return (algorithm.oid == rsaPSS ? "RSA-PSS" : "RSA", bits)
            case ecPublicKey:
                if let parameters = algorithm.parameters, parameters.identifier == .objectIdentifier,
                    let bits = curveBits[try ASN1ObjectIdentifier(derEncoded: parameters)]
                {
                    return ("EC", bits)
                }
                // Unnamed curve: an uncompressed point is 04 || X || Y.
                let point = key.bytes
                return ("EC", point.first == 0x04 ? (point.count - 1) / 2 * 8 : 0)
            case ed25519:
                return ("Ed25519", 256)
            case ed448:
                return ("Ed448", 456)
            default:
                return (algorithm.oid.description, 0)
            }
        }
    }

    /// certificatePolicies ::= SEQUENCE SIZE (1..MAX) OF PolicyInformation;
    /// PolicyInformation ::= SEQUENCE { policyIdentifier OID, policyQualifiers SEQUENCE OPTIONAL }
    private static func policies(_ ext: Certificate.Extension) throws -> [ASN1ObjectIdentifier] {
        let root = try DER.parse(ext.value)
        guard root.identifier == .sequence, case .constructed(let nodes) = root.content else {
            throw ParseError(reason: "certificatePolicies is not a SEQUENCE")
        }
        return try nodes.map { node in
            try DER.sequence(node, identifier: .sequence) { fields in
                let oid = try ASN1ObjectIdentifier(derEncoded: &fields)
                _ = fields.next()  // qualifiers (CPS URI, user notice): not read
                return oid
            }
        }
    }

    /// OpenSSL's long names, so that log lines match `openssl x509 -text`.
    static func signatureAlgorithmName(_ oid: ASN1ObjectIdentifier) -> String {
        switch oid.oidComponents {
        case [1, 2, 840, 113_549, 1, 1, 4]: return "md5WithRSAEncryption"
        case [1, 2, 840, 113_549, 1, 1, 5]: return "sha1WithRSAEncryption"
        case [1, 2, 840, 113_549, 1, 1, 10]: return "rsassaPss"
        case [1, 2, 840, 113_549, 1, 1, 11]: return "sha256WithRSAEncryption"
        case [1, 2, 840, 113_549, 1, 1, 12]: return "sha384WithRSAEncryption"
        case [1, 2, 840, 113_549, 1, 1, 13]: return "sha512WithRSAEncryption"
        case [1, 2, 840, 113_549, 1, 1, 14]: return "sha224WithRSAEncryption"
        case [1, 2, 840, 10_045, 4, 1]: return "ecdsa-with-SHA1"
        case [1, 2, 840, 10_045, 4, 3, 1]: return "ecdsa-with-SHA224"
        case [1, 2, 840, 10_045, 4, 3, 2]: return "ecdsa-with-SHA256"
        case [1, 2, 840, 10_045, 4, 3, 3]: return "ecdsa-with-SHA384"
        case [1, 2, 840, 10_045, 4, 3, 4]: return "ecdsa-with-SHA512"
        case [1, 3, 101, 112]: return "ED25519"
        case [1, 3, 101, 113]: return "ED448"
        default: return oid.description
        }
    }

    /// Uppercase hex of the serial's magnitude: the zero byte DER adds to keep a positive
    /// number's top bit clear is dropped, as OpenSSL prints it.
    var serialHex: String {
        if serialBytes.count > 1, serialBytes.first == 0 {
            return hex(serialBytes.dropFirst())
        }
        return hex(serialBytes)
    }
}
