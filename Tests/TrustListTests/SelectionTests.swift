import Foundation
import Testing
@testable import TrustList

@Suite struct SelectionTests {
    let policy = TrustListPolicy(signerFingerprints: [])

    @Test func takesIdVServicesInTheConfiguredStatusesOnly() throws {
        let a = try Fixtures.certificate("A"), b = try Fixtures.certificate("B"), c = try Fixtures.certificate("C")
        let d = try Fixtures.certificate("D"), e = try Fixtures.certificate("E")
        let services = [
            Fixtures.service(1, certificates: [a]),
            Fixtures.service(2, status: TrustListPolicy.granted, certificates: [b]),
            Fixtures.service(3, status: "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/deprecatedatnationallevel", certificates: [c]),
            Fixtures.service(4, type: "http://uri.etsi.org/TrstSvc/Svctype/CA/QC", status: TrustListPolicy.granted, certificates: [d]),
            Fixtures.service(5, certificates: [e, a]),
        ]
        let (decisions, cas) = TrustListSelection.decide(services, policy: policy)
        #expect(decisions.map(\.reason) == [.selected, .selected, .serviceStatus, .serviceType, .selected, .selected])
        #expect(decisions[5].detail == "same certificate as service 1")
        #expect(cas.map(\.certificate.der) == [a, b, e])
        #expect(cas.map(\.service) == ["Service 1", "Service 2", "Service 5"])
    }

    @Test func skipsWhatTheTrustStoreCouldNotUse() throws {
        let endEntity = try Fixtures.certificate("EE", ca: false)
        let noCertSign = try Fixtures.certificate("No keyCertSign", ca: true, keyCertSign: false)
        let services = [
            Fixtures.service(1, certificates: []),
            Fixtures.service(2, certificates: [nil]),
            Fixtures.service(3, certificates: [[0x30, 0x03, 0x02, 0x01, 0x01]]),
            Fixtures.service(4, certificates: [endEntity]),
            Fixtures.service(5, certificates: [noCertSign]),
        ]
        let (decisions, cas) = TrustListSelection.decide(services, policy: policy)
        #expect(decisions.map(\.reason) == [.noCertificate, .unparsableCertificate, .unparsableCertificate, .notCACertificate, .notCACertificate])
        #expect(decisions[4].detail.contains("keyCertSign"))
        #expect(cas.isEmpty)
    }

    @Test func otherTypesAndStatusesWhenConfigured() throws {
        let a = try Fixtures.certificate("A")
        var custom = policy
        custom.serviceTypes = ["http://uri.etsi.org/TrstSvc/Svctype/CA/QC"]
        custom.serviceStatuses = [TrustListPolicy.granted]
        let services = [
            Fixtures.service(1, certificates: [a]),
            Fixtures.service(2, type: "http://uri.etsi.org/TrstSvc/Svctype/CA/QC", status: TrustListPolicy.granted, certificates: [a]),
        ]
        let (decisions, cas) = TrustListSelection.decide(services, policy: custom)
        #expect(decisions.map(\.reason) == [.serviceType, .selected])
        #expect(cas.count == 1)
    }
}
