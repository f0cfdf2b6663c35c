import Foundation
import Testing
@testable import OIDC

@Suite struct Base64URLTests {
    /// Foundation's base64 with the RFC 7515 substitutions is the reference.
    static func reference(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test func agreesWithTheReferenceOnRandomInputs() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for length in 0..<200 {
            for _ in 0..<5 {
                var bytes = [UInt8]()
                for _ in 0..<length {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    bytes.append(UInt8(truncatingIfNeeded: state >> 33))
                }
                let encoded = Base64URL.encode(bytes)
                #expect(encoded == Self.reference(bytes))
                #expect(Base64URL.decode(encoded) == bytes)
            }
        }
    }

    @Test func rfc4648Vectors() {
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(Base64URL.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
    }

    @Test func refusesWhatIsNotUnpaddedBase64URL() {
        for bad in ["Zg==", "Zm9v+", "Zm9v/", "Zm 9v", "Z", "Zm9vY", "Zh", "Zm9=", "é"] {
            #expect(Base64URL.decode(bad) == nil, "\(bad) decoded")
        }
    }
}
