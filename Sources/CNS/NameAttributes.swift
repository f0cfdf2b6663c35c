import SwiftASN1

/// One attribute of a subject or issuer name, with its value decoded to text when the string
/// type is one we know.
struct NameAttribute {
    var oid: ASN1ObjectIdentifier
    /// nil when the value is not a string type we decode, or its bytes are invalid for its type.
    var text: String?
    /// The value's full DER encoding, shown as `#hex` when `text` is nil (RFC 4514 section 2.4).
    var encodedValue: ArraySlice<UInt8>
}

/// A Name: RDNs in encoded order (least specific first on every CNS certificate seen),
/// each RDN a set of one or more attributes.
struct Name {
    var rdns: [[NameAttribute]]

    /// Name ::= SEQUENCE OF RelativeDistinguishedName; RDN ::= SET SIZE (1..MAX) OF
    /// AttributeTypeAndValue; AttributeTypeAndValue ::= SEQUENCE { type OID, value ANY }.
    init(derEncoded node: ASN1Node) throws {
        guard node.identifier == .sequence, case .constructed(let rdnNodes) = node.content else {
            throw ASN1Error.unexpectedFieldType(node.identifier)
        }
        var rdns: [[NameAttribute]] = []
        for rdnNode in rdnNodes {
            guard rdnNode.identifier == .set, case .constructed(let attributeNodes) = rdnNode.content else {
                throw ASN1Error.unexpectedFieldType(rdnNode.identifier)
            }
            var rdn: [NameAttribute] = []
            for attributeNode in attributeNodes {
                rdn.append(try DER.sequence(attributeNode, identifier: .sequence) { nodes in
                    let oid = try ASN1ObjectIdentifier(derEncoded: &nodes)
                    guard let value = nodes.next() else {
                        throw ASN1Error.invalidASN1Object(reason: "attribute without a value")
                    }
                    return NameAttribute(oid: oid, text: Self.decodeString(value), encodedValue: value.encodedBytes)
                })
            }
            guard !rdn.isEmpty else {
                throw ASN1Error.invalidASN1Object(reason: "empty relative distinguished name")
            }
            rdns.append(rdn)
        }
        self.rdns = rdns
    }

    /// Every value of the attribute `oid`, in encoded order.
    func values(of oid: ASN1ObjectIdentifier) -> [NameAttribute] {
        rdns.joined().filter { $0.oid == oid }
    }

    /// `C=IT, O=ArubaPEC S.p.A., OU=..., CN=...`: encoded order, see `CNSIdentity.subject`.
    var text: String {
        rdns.map { rdn in
            rdn.map { attribute in
                let key = Self.shortNames[attribute.oid] ?? attribute.oid.description
                let value = attribute.text.map(Self.escaped) ?? "#" + hex(attribute.encodedValue)
                return key + "=" + value
            }.joined(separator: " + ")
        }.joined(separator: ", ")
    }

    static let commonName: ASN1ObjectIdentifier = [2, 5, 4, 3]
    static let surname: ASN1ObjectIdentifier = [2, 5, 4, 4]
    static let serialNumber: ASN1ObjectIdentifier = [2, 5, 4, 5]
    static let organization: ASN1ObjectIdentifier = [2, 5, 4, 10]
    static let organizationalUnit: ASN1ObjectIdentifier = [2, 5, 4, 11]
    static let givenName: ASN1ObjectIdentifier = [2, 5, 4, 42]

    /// OpenSSL's short names, so that log lines read like `openssl x509 -subject` output.
    static let shortNames: [ASN1ObjectIdentifier: String] = [
        [2, 5, 4, 6]: "C",
        [2, 5, 4, 8]: "ST",
        [2, 5, 4, 7]: "L",
        [2, 5, 4, 9]: "street",
        organization: "O",
        organizationalUnit: "OU",
        commonName: "CN",
        givenName: "GN",
        surname: "SN",
        serialNumber: "serialNumber",
        [2, 5, 4, 46]: "dnQualifier",
        [2, 5, 4, 12]: "title",
        [2, 5, 4, 97]: "organizationIdentifier",
        [1, 2, 840, 113_549, 1, 9, 1]: "emailAddress",
        [0, 9, 2342, 19_200_300, 100, 1, 25]: "DC",
        [0, 9, 2342, 19_200_300, 100, 1, 1]: "UID",
    ]

    /// Decodes the directory string types seen in certificates. TeletexString is read as
    /// Latin-1, which is what issuers that still emit it mean (and what OpenSSL assumes).
    static func decodeString(_ node: ASN1Node) -> String? {
        guard case .primitive(let bytes) = node.content else { return nil }
        switch node.identifier {
        case .utf8String:
            return String(validating: bytes, as: UTF8.self)
        case .printableString, .ia5String, .visibleString, .numericString:
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        case .teletexString:
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        case .bmpString:
            guard bytes.count % 2 == 0 else { return nil }
            let units = stride(from: bytes.startIndex, to: bytes.endIndex, by: 2).map {
                UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1])
            }
            return String(validating: units, as: UTF16.self)
        case .universalString:
            guard bytes.count % 4 == 0 else { return nil }
            var scalars = String.UnicodeScalarView()
            for offset in stride(from: bytes.startIndex, to: bytes.endIndex, by: 4) {
                let value = bytes[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                guard let scalar = Unicode.Scalar(value) else { return nil }
                scalars.append(scalar)
            }
            return String(scalars)
        default:
            return nil
        }
    }

    /// RFC 4514 section 2.4 escaping, plus control characters as `\XX` so that a hostile
    /// value cannot break a log line.
    static func escaped(_ value: String) -> String {
        var result = ""
        let scalars = Array(value.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            switch scalar {
            case ",", "+", "\"", "\\", "<", ">", ";":
                result += "\\" + String(scalar)
            case "#" where index == 0, " " where index == 0 || index == scalars.count - 1:
                result += "\\" + String(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                result += "\\" + hex([UInt8(scalar.value)])
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

/// Hex digits of `bytes`, uppercase unless asked otherwise.
func hex(_ bytes: some Sequence<UInt8>, uppercase: Bool = true) -> String {
    let digits = Array((uppercase ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
