/// What a SELECT response says about a file: the FCI (tag 6F) or FCP (tag 62) template of
/// ISO 7816-4 section 5.3.3. Only the parts the CNS protocol uses. Pure.
public struct FileControlInformation: Sendable, Equatable {
    /// Tag 80 (or 81): bytes of data in a transparent EF.
    public var size: Int?
    /// Tag 83.
    public var fileID: UInt16?
    /// Tag 82, first byte: 0x38 for a DF, 0x01 for a transparent EF.
    public var descriptor: UInt8?

    public var isDirectory: Bool { descriptor.map { $0 & 0x38 == 0x38 } ?? false }

    public init(size: Int? = nil, fileID: UInt16? = nil, descriptor: UInt8? = nil) {
        self.size = size
        self.fileID = fileID
        self.descriptor = descriptor
    }

    /// nil for an empty response; throws for one that is not a 62/6F template.
    public init?(parsing bytes: [UInt8]) throws(SmartCardError) {
        guard !bytes.isEmpty else { return nil }
        guard bytes.count >= 2, bytes[0] == 0x62 || bytes[0] == 0x6F, Int(bytes[1]) <= bytes.count - 2, bytes[1] < 0x80 else {
            throw SmartCardError(.malformedResponse, "SELECT answered with something that is not an FCI/FCP template")
        }
        var index = 2
        let end = 2 + Int(bytes[1])
        while index + 2 <= end {
            let tag = bytes[index]
            let length = Int(bytes[index + 1])
            let valueStart = index + 2
            guard length < 0x80, valueStart + length <= end else {
                throw SmartCardError(.malformedResponse, "FCI element \(hexString([tag])) runs past the template")
            }
            let value = bytes[valueStart..<(valueStart + length)]
            switch tag {
            case 0x80, 0x81:
                if size == nil, (1...4).contains(value.count) { size = value.reduce(0) { $0 << 8 | Int($1) } }
            case 0x82:
                descriptor = value.first
            case 0x83:
                if value.count == 2 { fileID = UInt16(value[valueStart]) << 8 | UInt16(value[valueStart + 1]) }
            default:
                break
            }
            index = valueStart + length
        }
    }
}
