internal import CPCSC

/// Anything that carries raw command APDUs to a card and brings back raw responses:
/// a PC/SC connection, or an in-memory card in tests.
///
/// The command is lent as a buffer, not an array, so a command carrying a PIN goes to the
/// card from the one buffer it was built in, which the caller wipes right after (an array
/// argument would be one more copy nobody wipes).
public protocol APDUTransport: AnyObject {
    func transmit(_ command: UnsafeRawBufferPointer) throws(SmartCardError) -> [UInt8]
}

extension APDUTransport {
    public func transmit(_ command: [UInt8]) throws(SmartCardError) -> [UInt8] {
        try command.withUnsafeBytes { buffer in
            Result { () throws(SmartCardError) -> [UInt8] in try transmit(buffer) }
        }.get()
    }
}

/// The transmission protocol pcsc-lite negotiated with the card.
public enum TransmissionProtocol: Sendable, Equatable {
    case t0, t1, raw, unknown(UInt32)
}

public struct CardStatus: Sendable, Equatable {
    public var readerName: String
    public var atr: [UInt8]
    public var transmissionProtocol: TransmissionProtocol
}

/// A connection to the card in one reader: the owner of the `SCARDHANDLE`, disconnected
/// in `deinit` (leaving the card as it is) unless `disconnect(_:)` was called first.
public final class CardConnection: APDUTransport {
    private let context: PCSCContext
    private let handle: SCARDHANDLE
    private let activeProtocol: DWORD
    private var connected = true

    init(context: PCSCContext, handle: SCARDHANDLE, protocol active: DWORD) {
        self.context = context
        self.handle = handle
        self.activeProtocol = active
    }

    deinit {
        if connected { SCardDisconnect(handle, DWORD(SCARD_LEAVE_CARD)) }
    }

    public func disconnect(_ disposition: CardDisposition) {
        guard connected else { return }
        connected = false
        let value: Int
        switch disposition {
        case .leave: value = Int(SCARD_LEAVE_CARD)
        case .reset: value = Int(SCARD_RESET_CARD)
        case .unpower: value = Int(SCARD_UNPOWER_CARD)
        }
        SCardDisconnect(handle, DWORD(value))
    }

    public var transmissionProtocol: TransmissionProtocol { Self.map(activeProtocol) }

    public func status() throws(SmartCardError) -> CardStatus {
        var nameLength = DWORD(512)
        var name = [CChar](repeating: 0, count: Int(nameLength))
        var state: DWORD = 0
        var proto: DWORD = 0
        var atr = [UInt8](repeating: 0, count: Int(MAX_ATR_SIZE))
        var atrLength = DWORD(atr.count)
        let rv = SCardStatus(handle, &name, &nameLength, &state, &proto, &atr, &atrLength)
        try PCSCContext.check(rv, "cannot read the card status")
        let readerName = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return CardStatus(readerName: readerName, atr: Array(atr.prefix(Int(atrLength))),
                          transmissionProtocol: Self.map(proto))
    }

    public func transmit(_ command: UnsafeRawBufferPointer) throws(SmartCardError) -> [UInt8] {
        precondition(connected, "transmit on a disconnected card")
        // What the SCARD_PCI_T0 / SCARD_PCI_T1 macros point at: the protocol and the
        // size of this header, nothing else.
        var sendPCI = SCARD_IO_REQUEST(dwProtocol: activeProtocol,
                                       cbPciLength: DWORD(MemoryLayout<SCARD_IO_REQUEST>.size))
        var response = [UInt8](repeating: 0, count: 65538)
        var responseLength = DWORD(response.count)
        let rv = SCardTransmit(handle, &sendPCI, command.baseAddress?.assumingMemoryBound(to: UInt8.self), DWORD(command.count),
                               nil, &response, &responseLength)
        try PCSCContext.check(rv, "the card did not answer")
        return Array(response.prefix(Int(responseLength)))
    }

    /// Runs `body` inside a PC/SC transaction, so no other application's APDUs come
    /// between ours (e.g. between VERIFY and the signature).
    public func withTransaction<T>(_ body: () throws(SmartCardError) -> T) throws(SmartCardError) -> T {
        try PCSCContext.check(SCardBeginTransaction(handle), "cannot begin a transaction")
        defer { SCardEndTransaction(handle, DWORD(SCARD_LEAVE_CARD)) }
        return try body()
    }

    private static func map(_ value: DWORD) -> TransmissionProtocol {
        switch Int(value) {
        case Int(SCARD_PROTOCOL_T0): return .t0
        case Int(SCARD_PROTOCOL_T1): return .t1
        case Int(SCARD_PROTOCOL_RAW): return .raw
        default: return .unknown(UInt32(truncatingIfNeeded: value))
        }
    }
}
