import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Keys generated once per test run (RSA generation is slow in a debug build); certificates are
/// built per test from a `LeafSpec`, never checked in.
enum TestKeys {
    static let issuerRSA = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let issuerP256 = P256.Signing.PrivateKey()
    static let leafRSA2048 = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    /// CNS 1.0 cards hold RSA-1024 keys.
    static let leafRSA1024 = try! _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
    static let leafP256 = P256.Signing.PrivateKey()
}

/// A name attribute as the test wants it encoded.
struct TestAttribute: Sendable {
    enum Encoding: Sendable { case printable, utf8, bmp, teletex }
    var oid: String
    var value: String
    var encoding: Encoding = .printable

    static func country(_ value: String) -> Self { .init(oid: "2.5.4.6", value: value) }
    static func organization(_ value: String) -> Self { .init(oid: "2.5.4.10", value: value) }
    static func unit(_ value: String) -> Self { .init(oid: "2.5.4.11", value: value) }
    static func commonName(_ value: String) -> Self { .init(oid: "2.5.4.3", value: value) }
    static func givenName(_ value: String) -> Self { .init(oid: "2.5.4.42", value: value) }
    static func surname(_ value: String) -> Self { .init(oid: "2.5.4.4", value: value) }
    static func serialNumber(_ value: String) -> Self { .init(oid: "2.5.4.5", value: value) }
    static func dnQualifier(_ value: String) -> Self { .init(oid: "2.5.4.46", value: value) }

    func rdnAttribute() throws -> RelativeDistinguishedName.Attribute {
        let type = try ASN1ObjectIdentifier(dotRepresentation: oid)
        switch encoding {
        case .printable:
            return try .init(type: type, printableString: value)
        case .utf8:
            return .init(type: type, utf8String: value)
        case .bmp:
            let bytes = value.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
            return .init(type: type, value: try ASN1Any(derEncoded: DER.parse([0x1E, UInt8(bytes.count)] + bytes)))
        case .teletex:
            let bytes = value.unicodeScalars.map { UInt8($0.value) }  // Latin-1
            return .init(type: type, value: try ASN1Any(derEncoded: DER.parse([0x14, UInt8(bytes.count)] + bytes)))
        }
    }
}

enum LeafKey: Sendable { case rsa2048, rsa1024, p256 }
enum IssuerSignature: Sendable { case sha256WithRSA, sha1WithRSA, ecdsaWithSHA256 }

/// Everything a test certificate varies in. Defaults: the regional TS-CNS shape of CNS.md.
struct LeafSpec: Sendable {
    static let sardegnaSubject: [TestAttribute] = [
        .country("IT"), .organization("ArubaPEC S.p.A."), .unit("REGIONE AUTONOMA DELLA SARDEGNA"),
        .commonName("RSSMRA80A01H501U/6120016461039008.OcjosidjOIUjhohdcaalkKgUgB4="),
        .givenName("MARIO"), .surname("ROSSI"),
    ]
    static let issuerSubject: [TestAttribute] = [
        .country("IT"), .organization("ArubaPEC S.p.A."), .unit("Certification AuthorityC"),
        .commonName("Regione Autonoma della Sardegna - CA Cittadini"),
    ]
    static let msSmartcardLogon = "1.3.6.1.4.1.311.20.2.2"

    var subject: [TestAttribute] = sardegnaSubject
    /// nil: no keyUsage extension.
    var keyUsage: KeyUsage? = KeyUsage(digitalSignature: true, keyEncipherment: true)
    /// nil: no extendedKeyUsage extension.
    var extendedKeyUsage: [String]? = ["1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4", msSmartcardLogon]
    /// nil: no certificatePolicies extension.
    var policies: [String]? = ["1.3.76.16.2.1"]
    var key: LeafKey = .rsa2048
    var signature: IssuerSignature = .sha256WithRSA
    var serial: [UInt8] = [0x5A, 0x3C, 0x11, 0x02, 0x7E]
    var notBefore = Date(timeIntervalSince1970: 1_700_000_000)  // 2023-11-14T22:13:20Z
    var notAfter = Date(timeIntervalSince1970: 1_889_000_000)  // about six years later

    func derBytes() throws -> [UInt8] {
        var extensions: [Certificate.Extension] = []
        if let keyUsage {
            extensions.append(try Certificate.Extension(keyUsage, critical: true))
        }
        if let extendedKeyUsage {
            let usages = try extendedKeyUsage.map { ExtendedKeyUsage.Usage(oid: try ASN1ObjectIdentifier(dotRepresentation: $0)) }
            extensions.append(try Certificate.Extension(ExtendedKeyUsage(usages), critical: false))
        }
        if let policies {
            extensions.append(try Self.certificatePolicies(policies))
        }
        let publicKey: Certificate.PublicKey
        switch key {
        case .rsa2048: publicKey = .init(TestKeys.leafRSA2048.publicKey)
        case .rsa1024: publicKey = .init(TestKeys.leafRSA1024.publicKey)
        case .p256: publicKey = .init(TestKeys.leafP256.publicKey)
        }
        let issuerKey: Certificate.PrivateKey
        let algorithm: Certificate.SignatureAlgorithm
        switch signature {
        case .sha256WithRSA: (issuerKey, algorithm) = (.init(TestKeys.issuerRSA), .sha256WithRSAEncryption)
        case .sha1WithRSA: (issuerKey, algorithm) = (.init(TestKeys.issuerRSA), .sha1WithRSAEncryption)
        case .ecdsaWithSHA256: (issuerKey, algorithm) = (.init(TestKeys.issuerP256), .ecdsaWithSHA256)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: .init(bytes: serial),
            publicKey: publicKey,
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: try Self.name(Self.issuerSubject),
            subject: try Self.name(subject),
            signatureAlgorithm: algorithm,
            extensions: try Certificate.Extensions(extensions),
            issuerPrivateKey: issuerKey)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    static func name(_ attributes: [TestAttribute]) throws -> DistinguishedName {
        DistinguishedName(try attributes.map { RelativeDistinguishedName(try $0.rdnAttribute()) })
    }

    /// certificatePolicies has no builder in swift-certificates: SEQUENCE OF SEQUENCE { OID }.
    static func certificatePolicies(_ oids: [String]) throws -> Certificate.Extension {
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { list in
            for oid in oids {
                try list.appendConstructedNode(identifier: .sequence) { info in
                    try info.serialize(try ASN1ObjectIdentifier(dotRepresentation: oid))
                }
            }
        }
        return Certificate.Extension(oid: [2, 5, 29, 32], critical: false, value: serializer.serializedBytes[...])
    }
}
