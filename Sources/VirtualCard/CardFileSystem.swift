import SmartCard

/// The files of a CNS card, addressed by their full path from the MF.
/// Directories hold nothing; elementary files hold bytes.
struct CardFileSystem {
    enum Node {
        case directory
        case file([UInt8])
    }

    private(set) var nodes: [[UInt16]: Node] = [[CNSFile.masterFile]: .directory]

    mutating func addFile(_ path: [UInt16], contents: [UInt8]) {
        // Every directory above the file exists.
        for depth in 1..<path.count where nodes[Array(path.prefix(depth))] == nil {
            nodes[Array(path.prefix(depth))] = .directory
        }
        nodes[path] = .file(contents)
    }

    func node(_ path: [UInt16]) -> Node? { nodes[path] }

    func isDirectory(_ path: [UInt16]) -> Bool {
        if case .directory = nodes[path] { return true }
        return false
    }

    func children(of directory: [UInt16]) -> [[UInt16]] {
        nodes.keys.filter { $0.count == directory.count + 1 && Array($0.prefix(directory.count)) == directory }
    }

    /// The FCP template (ISO 7816-4 table 12) OpenSC reads the size from: 80 size, 82
    /// descriptor, 83 file id and, for EFs, 86 with the access conditions in the order
    /// OpenSC's itacns driver reads them (READ first: 00 = always).
    func controlParameters(_ path: [UInt16]) -> [UInt8] {
        guard let node = nodes[path], let id = path.last else { return [] }
        let fid: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF)]
        var body: [UInt8]
        switch node {
        case .directory:
            body = [0x82, 0x01, 0x38, 0x83, 0x02] + fid
        case .file(let bytes):
            body = [0x80, 0x02, UInt8((bytes.count >> 8) & 0xFF), UInt8(bytes.count & 0xFF),
                    0x82, 0x01, 0x01, 0x83, 0x02] + fid + [0x86, 0x03, 0x00, 0xFF, 0xFF]
        }
        return [0x62, UInt8(body.count)] + body
    }
}
