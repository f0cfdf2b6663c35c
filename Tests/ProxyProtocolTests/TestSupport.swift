import ProxyProtocol

/// SplitMix64: a tiny deterministic generator so the property tests are reproducible.
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

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

/// A v2 header: signature, version/command byte, family byte, big-endian length, payload.
func v2(_ verCmd: UInt8, _ family: UInt8, _ payload: [UInt8], length: Int? = nil) -> [UInt8] {
    let len = length ?? payload.count
    return v2Signature + [verCmd, family, UInt8(len >> 8), UInt8(len & 0xFF)] + payload
}

func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }

func tlv(_ type: UInt8, _ value: [UInt8]) -> [UInt8] { [type] + be16(UInt16(value.count)) + value }

extension ProxyParseResult {
    var header: ProxyHeader? {
        if case .header(let h, _) = self { return h }
        return nil
    }
    var length: Int? {
        if case .header(_, let l) = self { return l }
        return nil
    }
    var error: ProxyProtocolError? {
        if case .invalid(let e) = self { return e }
        return nil
    }
    var isNeedMore: Bool {
        if case .needMore = self { return true }
        return false
    }
}

/// Valid headers of every kind, used by the truncation and consistency tests.
let validHeaders: [[UInt8]] = [
    bytes("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
    bytes("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"),
    bytes("PROXY TCP6 2001:db8::1 2001:0db8:0000:0000:0000:0000:0000:0002 1 65535\r\n"),
    bytes("PROXY TCP6 ::ffff:10.0.0.1 ::1 40000 8443\r\n"),
    bytes("PROXY UNKNOWN\r\n"),
    bytes("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
    v2(0x21, 0x11, [10, 0, 0, 1, 10, 0, 0, 2] + be16(51234) + be16(443)),
    v2(0x21, 0x21, [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        + [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2] + be16(1) + be16(2)),
    v2(0x21, 0x11, [1, 2, 3, 4, 5, 6, 7, 8] + be16(1) + be16(2)
        + tlv(0x01, bytes("h2")) + tlv(0x02, bytes("login.example")) + tlv(0x04, []) + tlv(0x20, [0x07, 0, 0, 0, 0])),
    v2(0x20, 0x00, []),
    v2(0x20, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]),
    v2(0x21, 0x00, [1, 2, 3]),
    v2(0x21, 0x31, [UInt8](repeating: 0x61, count: 216)),
    v2(0x21, 0x12, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]),
]
