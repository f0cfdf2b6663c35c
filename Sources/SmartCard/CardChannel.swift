/// Sends command APDUs through a transport and hides the T=0 conventions: 61 xx
/// ("xx more bytes, fetch them with GET RESPONSE") and 6C xx ("wrong Le, resend with
/// Le = xx"), as ISO 7816-3 section 10.3.5 / 7816-4 section 5.3.4 describe.
/// pcsc-lite passes both status words through to the application; a CCID reader in
/// TPDU mode on a T=0 card produces them.
public struct CardChannel {
    public let transport: any APDUTransport
    /// The most GET RESPONSE rounds for one command; a card that keeps answering 61 xx is broken.
    static let maxGetResponseRounds = 64

    public init(transport: any APDUTransport) {
        self.transport = transport
    }

    public func send(_ command: CommandAPDU) throws(SmartCardError) -> ResponseAPDU {
        var response = try ResponseAPDU(parsing: transport.transmit(command.encoded()))
        if response.sw1 == 0x6C {
            var retry = command
            retry.le = response.sw2 == 0 ? 256 : Int(response.sw2)
            response = try ResponseAPDU(parsing: transport.transmit(retry.encoded()))
        }
        return try collect(response, cla: command.cla)
    }

    /// A command already encoded in the caller's buffer (one carrying a PIN or PUK), sent as
    /// it is: no copy is made, so wiping that buffer afterwards leaves nothing behind. Such a
    /// command has data and no Le, so 6Cxx cannot apply; 61xx is still collected.
    func sendEncoded(_ command: UnsafeRawBufferPointer) throws(SmartCardError) -> ResponseAPDU {
        let response = try ResponseAPDU(parsing: transport.transmit(command))
        return try collect(response, cla: command.first ?? 0)
    }

    /// 61xx: the rest of the answer, fetched with GET RESPONSE.
    private func collect(_ first: ResponseAPDU, cla: UInt8) throws(SmartCardError) -> ResponseAPDU {
        var response = first
        guard response.sw1 == 0x61 else { return response }
        var data = response.data
        var rounds = 0
        while response.sw1 == 0x61 {
            rounds += 1
            guard rounds <= Self.maxGetResponseRounds else {
                throw SmartCardError(.malformedResponse, "the card kept answering 61xx to GET RESPONSE")
            }
            let getResponse = CommandAPDU(cla: cla & 0x03, ins: 0xC0, p1: 0, p2: 0,
                                          le: response.sw2 == 0 ? 256 : Int(response.sw2))
            response = try ResponseAPDU(parsing: transport.transmit(getResponse.encoded()))
            data += response.data
        }
        return ResponseAPDU(data: data, sw1: response.sw1, sw2: response.sw2)
    }
}
