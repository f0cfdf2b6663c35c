import COpenSSL
import COpenSSLShims
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Reading CRL files, and keeping what was read for the next load.
///
/// A large issuer's CRL holds hundreds of thousands of entries (tens of megabytes). Reading it
/// goes straight from the file to DER (CRLFileReader.h), never through a copy of the text; it
/// is kept as that DER and a sorted table of serials (CompactCRLs.h). A CRL the compact form
/// does not model is parsed whole and sorted once, off the loop threads (OpenSSL would
/// otherwise sort it under a lock in the first handshake that looks a serial up). A reload re-reads only files
/// that changed (device, inode, size and modification time): an unchanged CRL is the same
/// parsed, sorted object as before, with the CA keys its signature was found to verify with, so
/// a reload neither parses nor verifies it again and holds one copy of it, not two.
final class CRLFileCache: @unchecked Sendable {
    // @unchecked: `entries` is only touched under `lock`; the CRL objects in it are sorted
    // before they are stored and only read afterwards.

    struct Identity: Hashable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int64
        var modifiedNanoseconds: Int64

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modifiedSeconds = Int64(info.st_mtim.tv_sec)
            modifiedNanoseconds = Int64(info.st_mtim.tv_nsec)
        }
    }

    final class Entry {
        let identity: Identity
        /// Compact where possible; a load replaces one no CA of the bundle verified with the
        /// whole CRL (so the next load finds it as it will be used).
        var crls: [X509RevocationList]
        /// Per CRL: the SHA-256 of CA certificates whose key verified its signature.
        var verifiedWith: [Set<[UInt8]>]
        private var sorted = false

        init(identity: Identity, crls: [X509RevocationList]) {
            self.identity = identity
            self.crls = crls
            self.verifiedWith = Array(repeating: [], count: crls.count)
        }

        /// Sorts the entries of each CRL by serial once, before a store shares them between
        /// threads: what OpenSSL's look-up would otherwise do under the CRL's lock in the first
        /// handshake that needs it. Only the in-memory stack is sorted: X509_CRL_sort would also
        /// mark the encoding as modified, and a CRL whose issuer did not list its entries in
        /// order would then be encoded afresh, in another order, and fail its signature check.
        func sortEntries() {
            guard !sorted else { return }
            for crl in crls where !crl.isCompact {
                if let revoked = X509_CRL_get_REVOKED(crl.pointer) { CNSSSL_sk_X509_REVOKED_sort(revoked) }
            }
            sorted = true
        }
    }

    static let shared = CRLFileCache()

    private let lock = Mutex<Void>(())
    private var entries: [String: Entry] = [:]

    /// The CRLs of `path`: the ones read by the last load when the file has not changed since.
    func load(_ path: String) throws(TLSError) -> Entry {
        guard let identity = Identity(path: path) else { throw TLSError(.file, "\(path): cannot read file") }
        let cached: Entry? = lock.withLock { _ in entries[path] }
        if let cached, cached.identity == identity { return cached }
        return Entry(identity: identity, crls: try Self.read(path))
    }

    /// After a successful load: keep exactly what it used (a file no longer named is forgotten).
    func keep(_ used: [String: Entry]) {
        lock.withLock { _ in entries = used }
    }

    /// Every CRL in the file, in order: PEM blocks labelled X509 CRL, or one DER CRL. Each is
    /// read as DER without holding the file's text (CRLFileReader.h), then kept compact
    /// (CompactCRLs.h) or, when the compact form does not model it, parsed whole by OpenSSL.
    static func read(_ path: String) throws(TLSError) -> [X509RevocationList] {
        OpenSSLErrorQueue.clear()
        guard let reader = CNSCRL_reader_open(path) else { throw TLSError(.file, "\(path): cannot read file") }
        defer { CNSCRL_reader_close(reader) }
        var crls: [X509RevocationList] = []
        while true {
            var der: UnsafeMutablePointer<UInt8>?
            var length = 0
            var problem: UnsafePointer<CChar>?
            let next = CNSCRL_reader_next(reader, &der, &length, &problem)
            if next == 0 { break }
            guard next == 1, let der else {
                let why = problem.map { String(cString: $0) } ?? "unreadable"
                throw TLSError(.crl, "\(path): CRL \(crls.count + 1) does not parse (\(why))")
            }
            guard let crl = X509RevocationList.adopting(der, count: length) else {
                throw TLSError.drainingQueue(.crl, "\(path): CRL \(crls.count + 1) does not parse")
            }
            crls.append(crl)
        }
        var info = stat()
        if crls.isEmpty, stat(path, &info) == 0, info.st_size == 0 {
            throw TLSError(.file, "\(path): file is empty")
        }
        if crls.isEmpty { throw TLSError(.crl, "\(path): no CRL in file") }
        return crls
    }
}
