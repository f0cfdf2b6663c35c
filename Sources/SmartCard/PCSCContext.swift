internal import CPCSC

/// Whether a reader holds a card, and its ATR when it does.
public struct ReaderState: Sendable, Equatable {
    public var name: String
    public var cardPresent: Bool
    public var atr: [UInt8]
}

/// What pcsc-lite does with the card when a connection ends.
public enum CardDisposition: Sendable {
    /// Leave the card as it is (a verified PIN stays verified for the next application).
    case leave
    /// Warm reset: the card forgets every verified PIN. Use after a PIN was presented.
    case reset
    case unpower
}

/// One PC/SC context (SCardEstablishContext), the owner of the `SCARDCONTEXT` handle,
/// released in `deinit`. Connections keep their context alive.
///
/// Not Sendable: pcsc-lite contexts must not be used from two threads at once.
public final class PCSCContext {
    let handle: SCARDCONTEXT

    public init() throws(SmartCardError) {
        var context: SCARDCONTEXT = 0
        let rv = SCardEstablishContext(DWORD(SCARD_SCOPE_SYSTEM), nil, nil, &context)
        try PCSCContext.check(rv, "cannot reach the PC/SC service")
        handle = context
    }

    deinit {
        SCardReleaseContext(handle)
    }

    /// Reader names as pcscd reports them, e.g. `Virtual PCD 00 00`. Empty when none is connected.
    public func readers() throws(SmartCardError) -> [String] {
        var length: DWORD = 0
        var rv = SCardListReaders(handle, nil, nil, &length)
        if rv == SCARD_E_NO_READERS_AVAILABLE { return [] }
        try PCSCContext.check(rv, "cannot list readers")
        var buffer = [CChar](repeating: 0, count: Int(length))
        rv = SCardListReaders(handle, nil, &buffer, &length)
        if rv == SCARD_E_NO_READERS_AVAILABLE { return [] }
        try PCSCContext.check(rv, "cannot list readers")
        // A multi-string: names separated by NUL, ended by an empty name.
        return buffer.prefix(Int(length)).split(separator: 0).map {
            String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The state of each reader right now (no waiting).
    public func states(of readers: [String]) throws(SmartCardError) -> [ReaderState] {
        var result: [ReaderState] = []
        for name in readers {
            var state = SCARD_READERSTATE()
            let rv: Int = name.withCString { cName in
                state.szReader = cName
                state.dwCurrentState = DWORD(SCARD_STATE_UNAWARE)
                return Int(SCardGetStatusChange(handle, 0, &state, 1))
            }
            try PCSCContext.check(rv, "cannot read the state of reader \(name)")
            let present = (Int(state.dwEventState) & Int(SCARD_STATE_PRESENT)) != 0
            let atrLength = min(Int(state.cbAtr), Int(MAX_ATR_SIZE))
            let atr = withUnsafeBytes(of: state.rgbAtr) { Array($0.prefix(atrLength)) }
            result.append(ReaderState(name: name, cardPresent: present, atr: present ? atr : []))
        }
        return result
    }

    /// Connects in shared mode with T=0 or T=1, whichever the card and reader agree on.
    public func connect(reader: String) throws(SmartCardError) -> CardConnection {
        var card: SCARDHANDLE = 0
        var active: DWORD = 0
        let rv = SCardConnect(handle, reader, DWORD(SCARD_SHARE_SHARED),
                              DWORD(SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1), &card, &active)
        try PCSCContext.check(rv, "cannot connect to the card in \(reader)")
        return CardConnection(context: self, handle: card, protocol: active)
    }

    static func check(_ rv: some BinaryInteger, _ context: @autoclosure () -> String,
                      file: String = #fileID, line: Int = #line) throws(SmartCardError) {
        if rv == SCARD_S_SUCCESS { return }
        let code = UInt32(truncatingIfNeeded: Int(rv))
        let hex = "0x" + String(code, radix: 16, uppercase: true)
        throw SmartCardError(.pcsc(code), "\(context()): \(PCSCNames.describe(code)) (\(hex))", file: file, line: line)
    }
}
