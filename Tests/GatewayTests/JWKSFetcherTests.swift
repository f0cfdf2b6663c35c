import Testing
@testable import Gateway

@Suite struct JWKSFetcherTests {
    @Test func plainHTTPToAnotherHostIsRefusedBeforeConnecting() {
        guard case .failure(let error) = OIDCService.fetchJWKS("http://idp.example/jwks") else {
            Issue.record("fetch of a non-loopback http URL succeeded")
            return
        }
        #expect(error.description.hasPrefix("jwks_uri: "))
    }
}
