import Dispatch
import FoundationEssentials
import Synchronization
import TestSupport
import Testing
@testable import TLS

@Suite struct PresentedCertificatesTests {
    @Test func fieldsAreTheLeafsAndTheChainLeavesARepeatedLeafOut() throws {
        let world = ChainWorld()
        let leaf = world.leaf(serial: 4242)
        let presented = try #require(PresentedCertificates(leafDER: leaf.der, intermediatesDER: [leaf.der, world.intermediate.der]))
        let expected = try #require(PeerCertificate(der: leaf.der))
        #expect(presented.peer.der == leaf.der)
        #expect(presented.peer.sha256 == expected.sha256 && presented.peer.subject == expected.subject)
        #expect(presented.peer.serialHex == expected.serialHex && presented.peer.issuer == expected.issuer)
        #expect(presented.intermediatesDER == [world.intermediate.der])
    }

    @Test func aLeafThatDoesNotParseIsNoCertificate() {
        #expect(PresentedCertificates(leafDER: [0x30, 0x03, 0x02, 0x01, 0x01]) == nil)
        #expect(PresentedCertificates(leafDER: []) == nil)
    }

    @Test func readFromManyThreadsAtOnceTheFieldsAgree() throws {
        let world = ChainWorld()
        let leaf = world.leaf()
        let presented = try #require(PresentedCertificates(leafDER: leaf.der, intermediatesDER: [world.intermediate.der]))
        let digests = Mutex<Set<String>>([])
        DispatchQueue.concurrentPerform(iterations: 32) { _ in
            let digest = presented.peer.sha256 + "/" + String(presented.intermediatesDER.count)
            digests.withLock { _ = $0.insert(digest) }
        }
        #expect(digests.withLock { $0 } == [presented.peer.sha256 + "/1"])
    }
}
