import Posix
import Testing

@Suite struct SocketAddressTests {
    /// Per-client limits count an IPv6 client by its /64, an IPv4 one by its address.
    @Test func clientKeys() throws {
        let key = { (text: String) throws -> [UInt8] in try #require(SocketAddress(parsing: text)).clientKey }
        #expect(try key("[2001:db8:1:2::1]:443") == key("[2001:db8:1:2:ffff:eeee:dddd:cccc]:80"))
        #expect(try key("[2001:db8:1:2::1]:443") != key("[2001:db8:1:3::1]:443"))
        #expect(try key("192.0.2.7:1") == key("192.0.2.7:2"))
        #expect(try key("192.0.2.7:1") != key("192.0.2.8:1"))
        // An IPv4-mapped IPv6 address is the IPv4 client; and no IPv4 key equals an IPv6 one.
        #expect(try key("[::ffff:192.0.2.7]:1") == key("192.0.2.7:1"))
        #expect(try key("[::c000:207]:1") != key("192.0.2.7:1"))
    }
}
