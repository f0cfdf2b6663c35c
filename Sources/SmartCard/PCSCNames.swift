internal import CPCSC

/// Names for the pcsc-lite return codes a user can meet, so messages say more than a number.
enum PCSCNames {
    static func describe(_ code: UInt32) -> String {
        switch Int(code) {
        case SCARD_E_NO_SERVICE: return "the PC/SC service (pcscd) is not running"
        case SCARD_E_NO_READERS_AVAILABLE: return "no smart card reader is connected"
        case SCARD_E_UNKNOWN_READER: return "no such reader"
        case SCARD_E_NO_SMARTCARD: return "no card in the reader"
        case SCARD_W_REMOVED_CARD: return "the card was removed"
        case SCARD_W_RESET_CARD: return "the card was reset by another application"
        case SCARD_W_UNPOWERED_CARD: return "the card is not powered"
        case SCARD_W_UNRESPONSIVE_CARD: return "the card does not answer"
        case SCARD_E_SHARING_VIOLATION: return "another application holds the card exclusively"
        case SCARD_E_TIMEOUT: return "timed out"
        case SCARD_E_PROTO_MISMATCH: return "protocol mismatch"
        case SCARD_E_NOT_TRANSACTED: return "no transaction in progress"
        case SCARD_E_INSUFFICIENT_BUFFER: return "response larger than the buffer"
        case SCARD_E_INVALID_HANDLE: return "invalid handle"
        case SCARD_E_INVALID_PARAMETER: return "invalid parameter"
        case SCARD_E_READER_UNAVAILABLE: return "the reader is not available"
        case SCARD_F_COMM_ERROR: return "communication error with the reader"
        default: return "PC/SC error"
        }
    }
}
