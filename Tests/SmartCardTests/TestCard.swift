import SmartCard
import VirtualCard

/// A virtual card in memory and the CNS protocol on top of it: the world each test builds.
struct TestCard {
    let emulator: CNSCardEmulator
    let card: CNSCard
    let key: CardKey

    static let pin = "12345"
    static let puk = "87654321"
    static let cardID = "6120016461039008"

    /// Bytes shaped like a DER certificate (SEQUENCE, 3-byte header) followed by padding, as a
    /// certificate file on a real card may be. Long enough to need several READ BINARY chunks.
    static let certificate: [UInt8] = {
        let body = (0..<1200).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        return [0x30, 0x82, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }()

    static let personal = PersonalData(issuerCode: "08", issueDate: "01012024", expiryDate: "01012030",
                                       surname: "ROSSI", givenName: "MARIO", birthDate: "01011980", sex: "M",
                                       height: "", codiceFiscale: "RSSMRA80A01H501U", citizenship: "1",
                                       birthMunicipality: "H501", birthCountry: "ITALIA", birthRecord: "",
                                       residenceMunicipality: "H501", residenceAddress: "VIA ROMA 1")

    init(t0: Bool = false, keyBits: Int = 1024, maskManufacturer: UInt8 = 0x09, paddedCertificateFile: Bool = true,
         pkcs1Only: Bool = false) throws {
        key = try CardKey.generateRSA(bits: keyBits)
        let profile = VirtualCardProfile(
            atr: VirtualCardProfile.defaultATR(maskManufacturer: maskManufacturer),
            cardID: Self.cardID, personalData: Self.personal.encoded(),
            certificate: Self.certificate + (paddedCertificateFile ? [UInt8](repeating: 0, count: 77) : []),
            pin: try CardSecret(Self.pin, kind: .pin), puk: try CardSecret(Self.puk, kind: .puk),
            t0Responses: t0, pkcs1Only: pkcs1Only)
        emulator = CNSCardEmulator(profile: profile, key: key)
        card = CNSCard(transport: emulator, atr: emulator.atr)
    }
}

/// A fresh secret per use: `CNSCard` wipes a secret once it has sent it.
func pin(_ digits: String) throws -> CardSecret { try CardSecret(digits, kind: .pin) }
func puk(_ digits: String) throws -> CardSecret { try CardSecret(digits, kind: .puk) }

/// Counts what crosses the transport, to check the T=0 conventions are really exercised.
final class RecordingTransport: APDUTransport {
    let inner: any APDUTransport
    private(set) var commands: [[UInt8]] = []
    private(set) var responses: [[UInt8]] = []

    init(_ inner: any APDUTransport) { self.inner = inner }

    func transmit(_ command: UnsafeRawBufferPointer) throws(SmartCardError) -> [UInt8] {
        commands.append(Array(command))
        let response = try inner.transmit(command)
        responses.append(response)
        return response
    }
}

/// SplitMix64: a small fixed-seed generator, so a failing property run can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
