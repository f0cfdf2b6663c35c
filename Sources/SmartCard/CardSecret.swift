#if canImport(Glibc)
import Glibc
#endif

/// A PIN or PUK: 5 to 8 ASCII digits, sent padded with 0xFF to 8 bytes (CNS.md section 5).
///
/// The secret lives in one buffer of its own, never in a Swift array (arrays are copied on
/// write and on growth, and the copies are freed unwiped): it is read straight into that
/// buffer, padded in place, copied once into the command that carries it to the card, and
/// both are wiped as soon as the command is sent (`CNSCard`). A secret is therefore used once.
/// It never prints itself, so it cannot end up in a log line or an error by accident.
public final class CardSecret: CustomStringConvertible, CustomDebugStringConvertible {
    public enum Kind: String, Sendable { case pin = "PIN", puk = "PUK" }

    public let kind: Kind
    /// The 8-byte reference-data block (digits, then 0xFF) in `storage[0..<8]`; the rest is
    /// room for a line that is too long, so it is refused without passing through other memory.
    private let storage: UnsafeMutableRawBufferPointer
    public private(set) var isWiped = false

    public static let minimumLength = 5
    public static let maximumLength = 8
    /// What `init(kind:reading:)` offers its reader: one byte more than a secret may have, so
    /// an over-long entry is recognised.
    public static let readCapacity = maximumLength + 1

    /// Reads the secret straight into its own buffer: `read` writes at most `readCapacity`
    /// bytes at the start of the buffer it is given and returns how many it wrote. Whatever it
    /// wrote is wiped when the secret is refused.
    public init(kind: Kind, reading read: (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        self.kind = kind
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            let count = try read(UnsafeMutableRawBufferPointer(rebasing: storage[0..<Self.readCapacity]))
            try validateAndPad(count: count)
        } catch {
            wipe()
            throw error
        }
    }

    /// A secret from bytes the caller already holds (the virtual card's command line, tests).
    public convenience init(utf8 bytes: [UInt8], kind: Kind) throws(SmartCardError) {
        do {
            try self.init(kind: kind) { buffer in
                let count = min(bytes.count, buffer.count)
                buffer.copyBytes(from: bytes[0..<count])
                return bytes.count
            }
        } catch let error as SmartCardError {
            throw error
        } catch {
            throw SmartCardError(.invalidPINFormat, "a \(kind.rawValue) is 5 to 8 digits")
        }
    }

    public convenience init(_ text: some StringProtocol, kind: Kind) throws(SmartCardError) {
        try self.init(utf8: Array(text.utf8), kind: kind)
    }

    deinit {
        wipe()
        storage.deallocate()
    }

    private func validateAndPad(count: Int) throws(SmartCardError) {
        guard (Self.minimumLength...Self.maximumLength).contains(count),
              storage[0..<count].allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw SmartCardError(.invalidPINFormat, "a \(kind.rawValue) is 5 to 8 digits")
        }
        for i in count..<Self.maximumLength { storage[i] = 0xFF }
        for i in Self.maximumLength..<storage.count { storage[i] = 0 }
    }

    /// Zeroes the buffer; `explicit_bzero` because a plain store to memory that is about to be
    /// freed may be removed by the optimizer.
    public func wipe() {
        wipeMemory(storage)
        isWiped = true
    }

    /// The 8-byte padded block, for building the one command that carries it.
    func withPaddedBlock<R>(_ body: (UnsafeRawBufferPointer) throws(SmartCardError) -> R) throws(SmartCardError) -> R {
        precondition(!isWiped, "a \(kind.rawValue) is used once: it was wiped after it was sent")
        return try body(UnsafeRawBufferPointer(rebasing: storage[0..<Self.maximumLength]))
    }

    /// Every byte of the buffer, for tests that prove the wipe.
    func withStorage<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R { body(UnsafeRawBufferPointer(storage)) }

    /// Whether `block` (8 bytes as a VERIFY carries it) holds this secret.
    public func matches(padded block: some Collection<UInt8>) -> Bool {
        guard !isWiped, block.count == Self.maximumLength else { return false }
        // Compare every byte whatever the first difference, to keep timing flat.
        var difference: UInt8 = 0
        for (a, b) in zip(storage[0..<Self.maximumLength], block) { difference |= a ^ b }
        return difference == 0
    }

    /// Whether two secrets are the same (a new PIN typed twice).
    public func matches(_ other: CardSecret) -> Bool {
        guard !other.isWiped else { return false }
        return matches(padded: UnsafeRawBufferPointer(rebasing: other.storage[0..<Self.maximumLength]))
    }

    public var description: String { "<\(kind.rawValue) redacted>" }
    public var debugDescription: String { description }
}

/// Zeroes `buffer` in a way the optimizer may not drop (`explicit_bzero`), for memory that
/// held a secret and is about to be reused or freed.
func wipeMemory(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress else { return }
    explicit_bzero(base, buffer.count)
}
