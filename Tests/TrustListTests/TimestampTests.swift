import Foundation
import Testing
@testable import TrustList

@Suite struct TimestampTests {
    @Test func parsesTheFormsListsUse() {
        #expect(Timestamp.parse("2026-07-27T09:33:49Z") == Date(timeIntervalSince1970: 1_785_144_829))
        #expect(Timestamp.parse("2026-07-27T09:33:49.250Z") == Date(timeIntervalSince1970: 1_785_144_829))
        #expect(Timestamp.parse("2026-07-27T11:33:49+02:00") == Date(timeIntervalSince1970: 1_785_144_829))
        #expect(Timestamp.text(Date(timeIntervalSince1970: 1_785_144_829)) == "2026-07-27T09:33:49Z")
    }

    @Test func refusesWhatIsNotADateTime() {
        for text in ["", "2026-07-27", "2026-13-01T00:00:00Z", "2026-07-27T09:33:49Q", "2026-07-27 09:33:49Z", "x026-07-27T09:33:49Z"] {
            #expect(Timestamp.parse(text) == nil, "\(text)")
        }
    }
}
