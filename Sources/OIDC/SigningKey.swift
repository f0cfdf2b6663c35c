public import JSON
import FoundationEssentials
import Crypto
import _CryptoExtras

/// One of the provider's private signing keys. Its `kid` is the RFC 7638 thumbprint of its
/// public JWK, so the same key always has the same id.
public struct SigningKey: Sendable {
    enum Material: Sendable {
        case p256(P256.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    public let algorithm: JWSAlgorithm
    public let kid: String
    /// Unix seconds.
    public let created: Int
    /// Unix seconds after which the key is no longer published; nil while it is the signer.
    public var retireAt: Int?
    let material: Material

    init(algorithm: JWSAlgorithm, material: Material, created: Int, retireAt: Int?) {
        self.algorithm = algorithm
        self.material = material
        self.created = created
        self.retireAt = retireAt
        self.kid = VerificationKey(material: material.publicMaterial, kid: nil).thumbprint
    }

    public static func generate(_ algorithm: JWSAlgorithm, now: Int) throws(JOSEError) -> SigningKey {
        switch algorithm {
        case .es256:
            return SigningKey(algorithm: algorithm, material: .p256(P256.Signing.PrivateKey()), created: now, retireAt: nil)
        case .edDSA:
            return SigningKey(algorithm: algorithm, material: .ed25519(Curve25519.Signing.PrivateKey()), created: now, retireAt: nil)
        case .rs256:
            do {
                return SigningKey(algorithm: algorithm, material: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048)),
                                  created: now, retireAt: nil)
            } catch {
                throw JOSEError(.invalidKey, "RSA key generation failed: \(error)")
            }
        case .ps256:
            throw JOSEError(.unsupportedAlgorithm, "the provider does not sign with PS256")
        }
    }

    /// The private key bytes as stored in the key file: P-256 and Ed25519 raw scalars, RSA PKCS#1 DER.
    public var privateBytes: [UInt8] {
        switch material {
        case .p256(let key): [UInt8](key.rawRepresentation)
        case .rsa(let key): [UInt8](key.derRepresentation)
        case .ed25519(let key): [UInt8](key.rawRepresentation)
        }
    }

    public init(algorithm: JWSAlgorithm, privateBytes: [UInt8], created: Int, retireAt: Int?) throws(JOSEError) {
        let material: Material
        do {
            switch algorithm {
            case .es256: material = .p256(try P256.Signing.PrivateKey(rawRepresentation: privateBytes))
            case .rs256: material = .rsa(try _RSA.Signing.PrivateKey(derRepresentation: privateBytes))
            case .edDSA: material = .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: privateBytes))
            case .ps256: throw JOSEError(.unsupportedAlgorithm, "the provider does not sign with PS256")
            }
        } catch let error as JOSEError {
            throw error
        } catch {
            throw JOSEError(.invalidKey, "\(algorithm.rawValue) private key: \(error)")
        }
        self.init(algorithm: algorithm, material: material, created: created, retireAt: retireAt)
    }

    public func sign(_ input: [UInt8]) throws(JOSEError) -> [UInt8] {
        do {
            switch material {
            case .p256(let key):
                // JWS wants the fixed-width r || s form (RFC 7518 section 3.4), not DER.
                return [UInt8](try key.signature(for: input).rawRepresentation)
            case .rsa(let key):
                return [UInt8](try key.signature(for: input, padding: .insecurePKCS1v1_5).rawRepresentation)
            case .ed25519(let key):
                return [UInt8](try key.signature(for: input))
            }
        } catch {
            throw JOSEError(.invalidKey, "signing failed: \(error)")
        }
    }

    public var verificationKey: VerificationKey {
        VerificationKey(material: material.publicMaterial, kid: kid)
    }

    /// The public JWK with `kid`, `use` and `alg`, as published at the JWKS endpoint.
    public var publicJWK: JSONValue {
        guard case .object(var fields) = verificationKey.publicJWKMembers else { return .null }
        fields["kid"] = .string(kid)
        fields["use"] = "sig"
        fields["alg"] = .string(algorithm.rawValue)
        return .object(fields)
    }
}

extension SigningKey.Material {
    var publicMaterial: VerificationKey.Material {
        switch self {
        case .p256(let key): .p256(key.publicKey)
        case .rsa(let key): .rsa(key.publicKey)
        case .ed25519(let key): .ed25519(key.publicKey)
        }
    }
}

/// A public key that verifies JWS signatures: ours (from a `SigningKey`) or a client's (from its JWK).
public struct VerificationKey: Sendable {
    enum Material: Sendable {
        case p256(P256.Signing.PublicKey)
        case rsa(_RSA.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
    }

    let material: Material
    public let kid: String?
    /// The JWK `alg` member, when the key names one: then only that algorithm is accepted.
    public var algorithm: JWSAlgorithm?

    init(material: Material, kid: String?, algorithm: JWSAlgorithm? = nil) {
        self.material = material
        self.kid = kid
        self.algorithm = algorithm
    }

    /// A public key from a JWK (RFC 7517 / 7518 section 6 / RFC 8037). Private members are refused:
    /// a client that publishes its private key has no key.
    public init(jwk: JSONValue) throws(JOSEError) {
        guard let fields = jwk.objectValue, let kty = fields["kty"]?.stringValue else {
            throw JOSEError(.invalidKey, "a JWK must be an object with \"kty\"")
        }
        if fields["d"] != nil { throw JOSEError(.invalidKey, "the JWK contains a private key (\"d\")") }
        if let use = fields["use"]?.stringValue, use != "sig" {
            throw JOSEError(.invalidKey, "the JWK's \"use\" is \"\(use)\", not \"sig\"")
        }
        var algorithm: JWSAlgorithm?
        if let alg = fields["alg"]?.stringValue {
            guard let known = JWSAlgorithm(rawValue: alg), known.keyType == kty else {
                throw JOSEError(.unsupportedAlgorithm, "JWK alg \"\(alg)\" is not supported for kty \"\(kty)\"")
            }
            algorithm = known
        }
        func member(_ name: String) throws(JOSEError) -> [UInt8] {
            guard let text = fields[name]?.stringValue, let bytes = Base64URL.decode(text), !bytes.isEmpty else {
                throw JOSEError(.invalidKey, "JWK member \"\(name)\" missing or not base64url")
            }
            return bytes
        }
        let material: Material
        do {
            switch kty {
            case "EC":
                guard fields["crv"]?.stringValue == "P-256" else { throw JOSEError(.invalidKey, "only EC curve P-256 is supported") }
                let x = try member("x"), y = try member("y")
                guard x.count == 32, y.count == 32 else { throw JOSEError(.invalidKey, "P-256 coordinates must be 32 bytes") }
                material = .p256(try P256.Signing.PublicKey(rawRepresentation: x + y))
            case "RSA":
                let key = try _RSA.Signing.PublicKey(n: try member("n"), e: try member("e"))
                guard key.keySizeInBits >= 2048 else { throw JOSEError(.invalidKey, "RSA keys under 2048 bits are refused") }
                material = .rsa(key)
            case "OKP":
                guard fields["crv"]?.stringValue == "Ed25519" else { throw JOSEError(.invalidKey, "only OKP curve Ed25519 is supported") }
                material = .ed25519(try Curve25519.Signing.PublicKey(rawRepresentation: try member("x")))
            default:
                throw JOSEError(.invalidKey, "unsupported JWK kty \"\(kty)\"")
            }
        } catch let error as JOSEError {
            throw error
        } catch {
            throw JOSEError(.invalidKey, "JWK: \(error)")
        }
        self.init(material: material, kid: fields["kid"]?.stringValue, algorithm: algorithm)
    }

    public func accepts(_ algorithm: JWSAlgorithm) -> Bool {
        if let fixed = self.algorithm, fixed != algorithm { return false }
        switch (material, algorithm) {
        case (.p256, .es256), (.rsa, .rs256), (.rsa, .ps256), (.ed25519, .edDSA): return true
        default: return false
        }
    }

    public func verify(_ signature: [UInt8], over input: [UInt8], algorithm: JWSAlgorithm) -> Bool {
        guard accepts(algorithm) else { return false }
        switch material {
        case .p256(let key):
            guard signature.count == 64, let sig = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(sig, for: input)
        case .rsa(let key):
            let sig = _RSA.Signing.RSASignature(rawRepresentation: signature)
            return key.isValidSignature(sig, for: input, padding: algorithm == .ps256 ? .PSS : .insecurePKCS1v1_5)
        case .ed25519(let key):
            return key.isValidSignature(signature, for: input)
        }
    }

    /// The required public members only (RFC 7638 section 3.2), the input of the thumbprint.
    var publicJWKMembers: JSONValue {
        switch material {
        case .p256(let key):
            let raw = [UInt8](key.rawRepresentation)
            return ["kty": "EC", "crv": "P-256", "x": .string(Base64URL.encode(raw[0..<32])), "y": .string(Base64URL.encode(raw[32..<64]))]
        case .rsa(let key):
            let primitives = try? key.getKeyPrimitives()
            return ["kty": "RSA", "n": .string(Base64URL.encode(primitives?.modulus ?? Data())),
                    "e": .string(Base64URL.encode(primitives?.publicExponent ?? Data()))]
        case .ed25519(let key):
            return ["kty": "OKP", "crv": "Ed25519", "x": .string(Base64URL.encode(key.rawRepresentation))]
        }
    }

    /// RFC 7638 JWK thumbprint: SHA-256 over the required members, sorted, no whitespace.
    public var thumbprint: String {
        Base64URL.encode(SHA256.hash(data: publicJWKMembers.encoded()))
    }
}
