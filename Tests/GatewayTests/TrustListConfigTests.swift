import Foundation
import Testing
@testable import Gateway
import TLS
import TrustList

@Suite struct TrustListConfigTests {
    static let pin = "DD:F0:2A:C3:77:A5:5F:BD:A3:70:91:58:A1:5F:E1:A1:03:30:74:34:13:FF:1D:E7:2A:91:ED:B6:EE:28:56:61"

    static let listener = """
        [server]
        state_dir = "."
        [[listener]]
        name = "login"
        address = "127.0.0.1:0"
        certificate = "server.pem"
        private_key = "server.key"
        """

    func problems(_ text: String, _ fixture: ConfigFixture) -> [String] {
        do {
            _ = try GatewayConfig.load(path: fixture.write(text))
            return []
        } catch {
            return error.problems.map { "\($0.keyPath): \($0.message)" }
        }
    }

    @Test func defaultsAndTheBundleBecomesOptional() throws {
        let fixture = try ConfigFixture()
        let config = try GatewayConfig.load(path: fixture.write(Self.listener + """

            [trust]
            [trust_list]
            source = "https://eidas.agid.gov.it/TL/TSL-IT.xml"
            signer_certificates = ["\(Self.pin)"]
            """))
        let settings = try #require(config.trustList)
        #expect(settings.source == .url("https://eidas.agid.gov.it/TL/TSL-IT.xml"))
        #expect(settings.policy.signerFingerprints == ["ddf02ac377a55fbda3709158a15fe1a10330743413ff1de72a91edb6ee285661"])
        #expect(settings.policy.serviceTypes == ["http://uri.etsi.org/TrstSvc/Svctype/IdV"])
        #expect(settings.policy.serviceStatuses == [
            "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/recognisedatnationallevel",
            "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted",
        ])
        #expect(settings.policy.maxSize == 16 << 20 && settings.policy.nextUpdateGrace == 0 && settings.refreshInterval == 21_600)
        #expect(settings.directory == "\(fixture.directory)/./trust-list")
        #expect(config.trust.caBundle == "" && config.trust.trustListDirectory == settings.directory)
    }

    @Test func everyKeyIsRead() throws {
        let fixture = try ConfigFixture()
        _ = FileManager.default.createFile(atPath: "\(fixture.directory)/TSL-IT.xml", contents: Data("x".utf8))
        let config = try GatewayConfig.load(path: fixture.write(Self.listener + """

            [trust]
            ca_bundle = "ca.pem"
            [trust_list]
            source = "TSL-IT.xml"
            signer_certificates = ["\(Self.pin)"]
            service_types = ["http://uri.etsi.org/TrstSvc/Svctype/IdV", "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"]
            service_statuses = ["http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"]
            refresh_interval = 3600
            max_size = 8388608
            next_update_grace = 86400
            directory = "crls"
            """))
        let settings = try #require(config.trustList)
        #expect(settings.source == .file("\(fixture.directory)/TSL-IT.xml"))
        #expect(settings.policy.serviceTypes.count == 2 && settings.policy.serviceStatuses.count == 1)
        #expect(settings.refreshInterval == 3600 && settings.policy.maxSize == 8_388_608 && settings.policy.nextUpdateGrace == 86_400)
        #expect(settings.directory == "\(fixture.directory)/crls")
        #expect(config.trust.caBundle == "\(fixture.directory)/ca.pem")
    }

    @Test func mistakesNameTheirKeyPath() throws {
        let fixture = try ConfigFixture()
        let found = problems(Self.listener + """

            [trust]
            [trust_list]
            source = "missing.xml"
            signer_certificates = ["ca.pem", "abc"]
            service_types = "http://uri.etsi.org/TrstSvc/Svctype/IdV"
            service_statuses = ["granted"]
            max_size = "big"
            next_update_grace = -1
            refresh_intervall = 60
            """, fixture)
        #expect(found.contains { $0.hasPrefix("trust_list.source: ") && $0.contains("missing.xml: no such file") })
        #expect(found.contains { $0.hasPrefix("trust_list.signer_certificates[0]: ") })  // not a certificate
        #expect(found.contains { $0.hasPrefix("trust_list.signer_certificates[1]: ") })  // neither a file nor a fingerprint
        #expect(found.contains("trust_list.service_types: must be an array of strings, found a string"))
        #expect(found.contains { $0.hasPrefix("trust_list.service_statuses[0]: ") })
        #expect(found.contains("trust_list.max_size: must be an integer, found a string"))
        #expect(found.contains { $0.hasPrefix("trust_list.next_update_grace: ") })
        #expect(found.contains("trust_list.refresh_intervall: unknown key"))
    }

    @Test func signersAreRequiredAndTheBundleWithoutAList() throws {
        let fixture = try ConfigFixture()
        #expect(problems(Self.listener + "\n[trust]\n[trust_list]\n", fixture).contains { $0.hasPrefix("trust_list.signer_certificates: required") })
        #expect(problems(Self.listener + "\n[trust]\n", fixture).contains("trust.ca_bundle: missing required key"))
    }
}
