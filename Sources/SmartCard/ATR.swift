/// An Answer To Reset split into its parts (ISO 7816-3 section 8.2). Pure.
public struct ATR: Sendable, Equatable {
    public var bytes: [UInt8]
    /// Interface bytes in order as (name, value), e.g. ("TA1", 0x18).
    public var interfaceBytes: [(name: String, value: UInt8)]
    /// Protocols named by the TDi bytes (T=0 when none is named).
    public var protocols: [Int]
    public var historicalBytes: [UInt8]
    /// nil when no TCK is present (only T=0 indicated).
    public var checkByte: UInt8?
    public var checkByteValid: Bool

    public init(_ bytes: [UInt8]) throws(SmartCardError) {
        guard bytes.count >= 2, bytes.count <= 33 else {
            throw SmartCardError(.malformedATR, "an ATR is 2 to 33 bytes, got \(bytes.count)")
        }
        guard bytes[0] == 0x3B || bytes[0] == 0x3F else {
            throw SmartCardError(.malformedATR, "TS must be 3B or 3F")
        }
        self.bytes = bytes
        var index = 1
        var indicator = bytes[1] >> 4
        let historicalCount = Int(bytes[1] & 0x0F)
        var interface: [(String, UInt8)] = []
        var protocols: [Int] = []
        var level = 1
        while true {
            for (bit, letter) in [(UInt8(1), "A"), (2, "B"), (4, "C")] where indicator & bit != 0 {
                index += 1
                guard index < bytes.count else { throw SmartCardError(.malformedATR, "ATR truncated in T\(letter)\(level)") }
                interface.append(("T\(letter)\(level)", bytes[index]))
            }
            guard indicator & 8 != 0 else { break }
            index += 1
            guard index < bytes.count else { throw SmartCardError(.malformedATR, "ATR truncated in TD\(level)") }
            interface.append(("TD\(level)", bytes[index]))
            protocols.append(Int(bytes[index] & 0x0F))
            indicator = bytes[index] >> 4
            level += 1
        }
        let historicalStart = index + 1
        guard historicalStart + historicalCount <= bytes.count else {
            throw SmartCardError(.malformedATR, "ATR shorter than its \(historicalCount) historical bytes")
        }
        historicalBytes = Array(bytes[historicalStart..<(historicalStart + historicalCount)])
        interfaceBytes = interface
        self.protocols = protocols.isEmpty ? [0] : Array(Set(protocols)).sorted()
        let tckIndex = historicalStart + historicalCount
        // TCK is present unless T=0 is the only protocol indicated.
        let needsTCK = protocols.contains { $0 != 0 }
        if needsTCK {
            guard tckIndex < bytes.count else { throw SmartCardError(.malformedATR, "ATR lacks its check byte TCK") }
            checkByte = bytes[tckIndex]
            checkByteValid = bytes[1...tckIndex].reduce(0, ^) == 0
            guard tckIndex + 1 == bytes.count else { throw SmartCardError(.malformedATR, "bytes after TCK") }
        } else {
            checkByte = nil
            checkByteValid = true
            guard tckIndex == bytes.count else { throw SmartCardError(.malformedATR, "bytes after the historical bytes") }
        }
    }

    public static func == (lhs: ATR, rhs: ATR) -> Bool { lhs.bytes == rhs.bytes }
}

/// What a CNS ATR tells about the card: the historical bytes are
/// `00 6B <IC manufacturer> <mask manufacturer> <OS hi> <OS lo> 01 xx xx 'C' 'N' 'S' <version> 31 80`
/// (the CNS functional specification as OpenSC's itacns driver reads it).
public struct CNSCardType: Sendable, Equatable {
    /// 0x10 = CNS 1.0, 0x11 = CNS 1.1.
    public var version: UInt8
    public var icManufacturerCode: UInt8
    public var maskManufacturerCode: UInt8
    public var operatingSystemVersion: UInt16

    public var versionString: String { "\(version >> 4).\(version & 0x0F)" }
    public var icManufacturer: String { Self.icManufacturers[Int(icManufacturerCode)] ?? "unknown (0x\(hexString([icManufacturerCode])))" }
    public var maskManufacturer: String { Self.maskManufacturers[Int(maskManufacturerCode)] ?? "unknown (0x\(hexString([maskManufacturerCode])))" }

    /// STIncard masks need the "search the parent DFs too" bit (0x80) in PIN references.
    public var pinReferenceFlag: UInt8 { maskManufacturerCode == 0x09 ? 0x80 : 0x00 }

    /// nil when the ATR is not a CNS card's.
    public init?(atr: ATR) {
        let h = atr.historicalBytes
        guard h.count == 15, h[0] == 0x00, h[1] == 0x6B, h[6] == 0x01,
              h[9] == 0x43, h[10] == 0x4E, h[11] == 0x53, h[13] == 0x31, h[14] == 0x80 else { return nil }
        version = h[12]
        icManufacturerCode = h[2]
        maskManufacturerCode = h[3]
        operatingSystemVersion = UInt16(h[4]) << 8 | UInt16(h[5])
    }

    /// Builds the historical bytes of a CNS card (used by the virtual card).
    public static func historicalBytes(version: UInt8, icManufacturer: UInt8, maskManufacturer: UInt8,
                                       operatingSystem: UInt16) -> [UInt8] {
        [0x00, 0x6B, icManufacturer, maskManufacturer, UInt8(operatingSystem >> 8), UInt8(operatingSystem & 0xFF),
         0x01, 0x01, 0x01, 0x43, 0x4E, 0x53, version, 0x31, 0x80]
    }

    /// Mask manufacturer codes of the CNS specification.
    static let maskManufacturers: [Int: String] = [
        1: "Kaitech", 2: "Gemplus", 3: "Ghirlanda", 4: "Giesecke & Devrient", 5: "Oberthur Card Systems",
        6: "Orga", 7: "Axalto", 8: "Siemens", 9: "STIncard", 10: "GEP", 11: "EPS Corp", 12: "Athena",
    ]
    /// IC manufacturer codes of the ISO/IEC 7816-6 registry (the first ones).
    static let icManufacturers: [Int: String] = [
        1: "Motorola", 2: "STMicroelectronics", 3: "Hitachi", 4: "NXP Semiconductors", 5: "Infineon",
        6: "Cylinc", 7: "Texas Instruments", 8: "Fujitsu", 9: "Matsushita", 10: "NEC", 11: "Oki",
        12: "Toshiba", 13: "Mitsubishi", 14: "Samsung", 15: "Hynix", 16: "LG",
    ]
}
