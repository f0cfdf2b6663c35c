import Glibc
import Posix

/// The card side of vpcd's socket protocol (vsmartcard): vpcd LISTENS, the card connects.
/// Both ways every message is a 2-byte big-endian length and a payload. A 1-byte payload
/// from vpcd is control: 00 power off, 01 power on, 02 reset (none answered), 04 "send the
/// ATR" (answered with the ATR). Anything longer is a command APDU, answered with the
/// response APDU. vpcd treats a closed socket as a removed card.
public final class VPCDConnection {
    public let host: String
    public let port: UInt16
    private let card: CNSCardEmulator
    private let log: (String) -> Void

    public init(host: String, port: UInt16, card: CNSCardEmulator, log: @escaping (String) -> Void) {
        self.host = host
        self.port = port
        self.card = card
        self.log = log
    }

    /// Connects, serves, and reconnects whenever vpcd goes away (pcscd restarted), forever.
    public func serve() -> Never {
        var announcedWaiting = false
        while true {
            let fd: Int32
            do {
                fd = try connect()
            } catch {
                if !announcedWaiting {
                    log("waiting for vpcd at \(host):\(port): \(error.reason)")
                    announcedWaiting = true
                }
                usleep(250_000)
                continue
            }
            announcedWaiting = false
            log("connected to vpcd at \(host):\(port)")
            card.reset()
            let why = serveConnection(fd)
            Socket.close(fd)
            card.reset()
            log("vpcd connection closed (\(why)); reconnecting")
        }
    }

    private func serveConnection(_ fd: Int32) -> String {
        while true {
            guard let header = readExactly(fd, count: 2) else { return "end of stream" }
            let length = Int(header[0]) << 8 | Int(header[1])
            guard let message = readExactly(fd, count: length) else { return "end of stream" }
            var reply: [UInt8]?
            if message.count == 1 {
                switch message[0] {
                case 0x00, 0x01, 0x02:
                    card.reset()
                case 0x04:
                    reply = card.atr
                default:
                    log("unknown vpcd control byte \(message[0])")
                }
            } else if !message.isEmpty {
                reply = card.process(message)
            }
            if let reply {
                let frame = [UInt8(reply.count >> 8), UInt8(reply.count & 0xFF)] + reply
                guard writeAll(fd, frame) else { return "write failed" }
            }
        }
    }

    /// The outbound stack's connect (every address, a deadline), then a blocking socket:
    /// this thread does nothing but wait for vpcd's next message.
    private func connect() throws(VirtualCardError) -> Int32 {
        let fd: Int32
        do {
            fd = try Socket.connect(host: host, port: port, deadline: Deadline(after: 2))
        } catch {
            throw VirtualCardError(.network, error.reason)
        }
        do {
            try Socket.setBlocking(fd, true)
        } catch {
            Socket.close(fd)
            throw VirtualCardError(.network, error.description)
        }
        return fd
    }

    private func readExactly(_ fd: Int32, count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return nil
            }
        }
        return buffer
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }
}
