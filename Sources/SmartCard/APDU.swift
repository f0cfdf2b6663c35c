/// An ISO 7816-4 command APDU. `le` is the number of response bytes expected
/// (nil: none; 256 is encoded as 00 in short form).
public struct CommandAPDU: Sendable, Equatable {
    public var cla: UInt8
    public var ins: UInt8
    public var p1: UInt8
    public var p2: UInt8
    public var data: [UInt8]
    public var le: Int?

    public init(cla: UInt8 = 0x00, ins: UInt8, p1: UInt8, p2: UInt8, data: [UInt8] = [], le: Int? = nil) {
        self.cla = cla
        self.ins = ins
        self.p1 = p1
        self.p2 = p2
        self.data = data
        self.le = le
    }

    /// Short form when data fits in 255 bytes and Le in 256; extended form otherwise.
    public func encoded() throws(SmartCardError) -> [UInt8] {
        guard data.count <= 65535, (le ?? 0) >= 0, (le ?? 0) <= 65536 else {
            throw SmartCardError(.malformedCommand, "command data or Le too long")
        }
        var bytes: [UInt8] = [cla, ins, p1, p2]
        let extended = data.count > 255 || (le ?? 0) > 256
        if !data.isEmpty {
            if extended {
                bytes += [0x00, UInt8(data.count >> 8), UInt8(data.count & 0xFF)]
            } else {
                bytes.append(UInt8(data.count))
            }
            bytes += data
        }
        if let le {
            if extended {
                if data.isEmpty { bytes.append(0x00) }
                let value = le == 65536 ? 0 : le
                bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]
            } else {
                bytes.append(le == 256 ? 0x00 : UInt8(le))
            }
        }
        return bytes
    }

    /// Parses the four ISO 7816-3 cases, short and extended. Pure, so it can be fuzzed;
    /// the virtual card uses it for every APDU vpcd forwards.
    public init(parsing bytes: [UInt8]) throws(SmartCardError) {
        guard bytes.count >= 4 else {
            throw SmartCardError(.malformedCommand, "command APDU shorter than 4 bytes")
        }
        cla = bytes[0]; ins = bytes[1]; p1 = bytes[2]; p2 = bytes[3]
        data = []
        le = nil
        let body = bytes[4...]
        let start = body.startIndex
        switch body.count {
        case 0:
            return
        case 1:
            // Case 2 short: Le only.
            le = body[start] == 0 ? 256 : Int(body[start])
            return
        default:
            break
        }
        if body[start] != 0 {
            // Short Lc: case 3 or 4.
            let lc = Int(body[start])
            let rest = body.count - 1 - lc
            guard rest == 0 || rest == 1 else {
                throw SmartCardError(.malformedCommand, "Lc \(lc) does not match the command length")
            }
            data = Array(body[(start + 1)..<(start + 1 + lc)])
            if rest == 1 {
                let value = body[start + 1 + lc]
                le = value == 0 ? 256 : Int(value)
            }
            return
        }
        // Extended: 00 followed by two bytes.
        guard body.count >= 3 else {
            throw SmartCardError(.malformedCommand, "truncated extended length")
        }
        let length = Int(body[start + 1]) << 8 | Int(body[start + 2])
        if body.count == 3 {
            le = length == 0 ? 65536 : length
            return
        }
        let rest = body.count - 3 - length
        guard length > 0, rest == 0 || rest == 2 else {
            throw SmartCardError(.malformedCommand, "extended Lc \(length) does not match the command length")
        }
        data = Array(body[(start + 3)..<(start + 3 + length)])
        if rest == 2 {
            let value = Int(body[start + 3 + length]) << 8 | Int(body[start + 4 + length])
            le = value == 0 ? 65536 : value
        }
    }
}

/// A response APDU: data followed by the status word SW1 SW2.
public struct ResponseAPDU: Sendable, Equatable {
    public var data: [UInt8]
    public var sw1: UInt8
    public var sw2: UInt8

    public init(data: [UInt8] = [], sw1: UInt8, sw2: UInt8) {
        self.data = data
        self.sw1 = sw1
        self.sw2 = sw2
    }

    public init(sw: UInt16, data: [UInt8] = []) {
        self.init(data: data, sw1: UInt8(sw >> 8), sw2: UInt8(sw & 0xFF))
    }

    /// Pure: never traps on any input.
    public init(parsing bytes: [UInt8]) throws(SmartCardError) {
        guard bytes.count >= 2 else {
            throw SmartCardError(.malformedResponse, "response of \(bytes.count) byte(s), no status word")
        }
        data = Array(bytes.dropLast(2))
        sw1 = bytes[bytes.count - 2]
        sw2 = bytes[bytes.count - 1]
    }

    public var sw: UInt16 { UInt16(sw1) << 8 | UInt16(sw2) }
    public var isSuccess: Bool { sw == StatusWord.success }
    public var encoded: [UInt8] { data + [sw1, sw2] }
}

/// The status words the CNS protocol uses (ISO 7816-4 section 5.6).
public enum StatusWord {
    public static let success: UInt16 = 0x9000
    public static let endOfFileReached: UInt16 = 0x6282
    public static let wrongLength: UInt16 = 0x6700
    public static let securityStatusNotSatisfied: UInt16 = 0x6982
    public static let authenticationMethodBlocked: UInt16 = 0x6983
    public static let conditionsNotSatisfied: UInt16 = 0x6985
    public static let incorrectData: UInt16 = 0x6A80
    public static let fileNotFound: UInt16 = 0x6A82
    public static let referenceNotFound: UInt16 = 0x6A88
    public static let incorrectP1P2: UInt16 = 0x6A86
    public static let wrongOffset: UInt16 = 0x6B00
    public static let insNotSupported: UInt16 = 0x6D00
    public static let claNotSupported: UInt16 = 0x6E00
    public static let commandNotAllowed: UInt16 = 0x6986
    /// 63 Cx: verification failed, x tries left.
    public static func triesLeft(_ count: Int) -> UInt16 { 0x63C0 | UInt16(min(max(count, 0), 15)) }
}
