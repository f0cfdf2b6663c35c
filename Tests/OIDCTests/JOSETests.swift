import Crypto
import Foundation
import JSON
import Testing
@testable import OIDC

@Suite struct PKCETests {
    @Test func rfc7636AppendixB() {
        #expect(PKCE.s256Challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        #expect(PKCE.verify(verifier: TestWorld.verifier, challenge: TestWorld.challenge))
    }

    @Test func wrongOrMalformedVerifierFails() {
        #expect(!PKCE.verify(verifier: String(TestWorld.verifier.dropLast()) + "A", challenge: TestWorld.challenge))
        #expect(!PKCE.verify(verifier: "short", challenge: PKCE.s256Challenge(for: "short")))
        #expect(!PKCE.isValidVerifierSyntax(String(repeating: "a", count: 129)))
        #expect(!PKCE.isValidVerifierSyntax(String(repeating: "a", count: 42) + "+"))
        #expect(PKCE.isValidChallengeSyntax(TestWorld.challenge))
        #expect(!PKCE.isValidChallengeSyntax("plain-challenge"))
    }
}

@Suite struct JWSTests {
    @Test(arguments: JWSAlgorithm.signing)
    func signVerifyRoundTrip(_ algorithm: JWSAlgorithm) throws {
        let key = try SigningKey.generate(algorithm, now: 1)
        let token = try JWS.sign(claims: ["sub": "x", "n": 1], key: key)
        let decoded = try JWS.verify(token, keys: [key.verificationKey])
        #expect(decoded.claims["sub"] == "x")
        #expect(decoded.algorithm == algorithm)
        #expect(decoded.kid == key.kid)
        // The published JWK verifies too (what a relying party does).
        let published = try VerificationKey(jwk: key.publicJWK)
        #expect(try JWS.verify(token, keys: [published]).claims["n"] == 1)
    }

    @Test(arguments: JWSAlgorithm.signing)
    func tamperedTokensAreRejected(_ algorithm: JWSAlgorithm) throws {
        let key = try SigningKey.generate(algorithm, now: 1)
        let token = try JWS.sign(claims: ["sub": "alice"], key: key)
        let parts = token.split(separator: ".").map(String.init)
        let forgedPayload = Base64URL.encode(JSONValue.object(["sub": "mallory"]).encoded())
        #expect(throws: JOSEError(.badSignature, "")) { try JWS.verify(parts[0] + "." + forgedPayload + "." + parts[2], keys: [key.verificationKey]) }
        var signature = Base64URL.decode(parts[2])!
        signature[signature.count / 2] ^= 1
        #expect(throws: JOSEError(.badSignature, "")) {
            try JWS.verify(parts[0] + "." + parts[1] + "." + Base64URL.encode(signature), keys: [key.verificationKey])
        }
        let other = try SigningKey.generate(algorithm, now: 1)
        #expect(throws: JOSEError(.unknownKey, "")) { try JWS.verify(token, keys: [other.verificationKey]) }
    }

    @Test func algNoneAndAlgorithmConfusionAreRejected() throws {
        let key = try SigningKey.generate(.es256, now: 1)
        let none = Base64URL.encode(JSONValue.object(["alg": "none", "kid": .string(key.kid)]).encoded())
        let payload = Base64URL.encode(JSONValue.object(["sub": "x"]).encoded())
        #expect(throws: JOSEError(.unsupportedAlgorithm, "")) { try JWS.verify(none + "." + payload + ".", keys: [key.verificationKey]) }
        // An RS256 header over an EC key: no key accepts it.
        let rs = Base64URL.encode(JSONValue.object(["alg": "RS256", "kid": .string(key.kid)]).encoded())
        let signature = try key.sign(Array((rs + "." + payload).utf8))
        #expect(throws: JOSEError(.unknownKey, "")) { try JWS.verify(rs + "." + payload + "." + Base64URL.encode(signature), keys: [key.verificationKey]) }
        #expect(throws: JOSEError(.malformed, "")) { try JWS.verify("a.b", keys: [key.verificationKey]) }
    }

    @Test func jwkThumbprintMatchesRFC7638Example() throws {
        // RFC 7638 section 3.1.
        let jwk: JSONValue = [
            "kty": "RSA", "e": "AQAB",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        ]
        #expect(try VerificationKey(jwk: jwk).thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    @Test func privateJWKIsRefused() {
        #expect(throws: JOSEError(.invalidKey, "")) { try VerificationKey(jwk: ["kty": "OKP", "crv": "Ed25519", "x": "AAAA", "d": "AAAA"]) }
    }

    @Test func expiryIsChecked() throws {
        #expect(throws: JOSEError(.expired, "")) { try TimeClaims(leeway: 0).check(["exp": 100], now: 100) }
        #expect(throws: JOSEError(.notYetValid, "")) { try TimeClaims(leeway: 0).check(["exp": 300, "nbf": 200], now: 100) }
        try TimeClaims(leeway: 0).check(["exp": 101], now: 100)
    }
}

@Suite struct SecretHashTests {
    @Test func roundTripThroughPHC() throws {
        let made = SecretHash.make(secret: "correct horse", iterations: SecretHash.minimumIterations)
        let parsed = try SecretHash(phc: made.description)
        #expect(parsed == made)
        #expect(made.description.hasPrefix("$pbkdf2-sha256$i=210000$"))
        #expect(parsed.matches("correct horse"))
        #expect(!parsed.matches("correct horsf"))
    }

    @Test func weakOrMalformedHashesAreRefused() {
        let weak = SecretHash(scheme: .pbkdf2SHA256(iterations: 1000), salt: Array(repeating: 1, count: 16), hash: Array(repeating: 2, count: 32))
        #expect(throws: SecretHash.ParseError.weakIterations(1000)) { try SecretHash(phc: weak.description) }
        #expect(throws: SecretHash.ParseError.format) { try SecretHash(phc: "$argon2id$v=19$m=65536$abc$def") }
        #expect(throws: SecretHash.ParseError.format) { try SecretHash(phc: "plaintext") }
        // A fast hash has no iterations, a 32-byte hash and a salt of 16 bytes or more.
        #expect(throws: SecretHash.ParseError.format) { try SecretHash(phc: "$hmac-sha256$i=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43) }
        #expect(throws: SecretHash.ParseError.format) { try SecretHash(phc: "$hmac-sha256$c2FsdA$" + "A" * 43) }
        #expect(throws: SecretHash.ParseError.format) { try SecretHash(phc: "$hmac-sha256$c2FsdHNhbHRzYWx0c2FsdA$QUJD") }
    }

    /// Issue 15, item 2: a generated secret (256 random bits) is stored with a one-pass keyed
    /// hash; a person's secret keeps PBKDF2; the PHC name says which.
    @Test func generatedSecretsGetAFastKeyedHash() throws {
        let secret = Token.random()
        let fast = SecretHash.makeForGenerated(secret: secret)
        #expect(fast.description.hasPrefix("$hmac-sha256$") && !fast.isSlow)
        let parsed = try SecretHash(phc: fast.description)
        #expect(parsed == fast && parsed.matches(secret))
        #expect(!parsed.matches(secret + "x") && !parsed.matches(""))
        // The salt keys the hash: the same secret hashes differently each time.
        #expect(SecretHash.makeForGenerated(secret: secret).description != fast.description)
        #expect(SecretHash.make(secret: "chosen by a person", iterations: SecretHash.minimumIterations).isSlow)
    }
}

private func * (text: String, count: Int) -> String { String(repeating: text, count: count) }

@Suite struct KeySetTests {
    @Test func rotationPublishesOldAndNewThenRetires() throws {
        let set = try KeySet(keys: []).completed(with: [.es256], now: 100).0
        let old = try #require(set.signer(.es256))
        let rotated = try set.rotated(algorithms: [.es256], now: 200, overlap: 1000)
        let new = try #require(rotated.signer(.es256))
        #expect(new.kid != old.kid)
        #expect(Set(rotated.published(now: 300).map(\.kid)) == [old.kid, new.kid])
        #expect(rotated.published(now: 1200).map(\.kid) == [new.kid])
        // A token signed before the rotation still verifies during the overlap.
        let token = try JWS.sign(claims: ["a": 1], key: old)
        _ = try JWS.verify(token, keys: rotated.verificationKeys(now: 300))
    }

    @Test func keyFileRoundTripAndModeCheck() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("oidc-keys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + KeyFile.fileName
        let created = try KeyFile.loadOrCreate(path: path, required: [.es256, .rs256, .edDSA], now: 10)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let loaded = try #require(try KeyFile.load(path: path))
        #expect(loaded.keys.keys.map(\.kid) == created.keys.keys.map(\.kid))
        #expect(loaded.pairwiseSalt == created.pairwiseSalt)
        let rotated = try KeyFile.rotate(path: path, algorithms: [.es256], now: 20, overlap: 100)
        #expect(rotated.keys.keys.count == 6)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(throws: KeyFileError.self) { try KeyFile.load(path: path) }
    }
}
