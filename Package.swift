// swift-tools-version:6.0
import PackageDescription

let xmlsecIncludes = ["-I/usr/include/xmlsec1", "-I/usr/include/libxml2"]
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "cns-gateway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cns-gateway", targets: ["cns-gateway"]),
        .executable(name: "cns-card", targets: ["cns-card"]),
        .executable(name: "cns-virtual-card", targets: ["cns-virtual-card"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C: system libraries and the shims for what Swift cannot import.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        // libpcsclite-dev, without pkg-config for the same reason as CXMLSec (its -pthread).
        .systemLibrary(name: "CPCSC"),
        .target(name: "COpenSSLShims", dependencies: ["COpenSSL"]),
        .target(name: "CLinux"),
        // xmlsec over libxml2 with its OpenSSL backend: the trusted list's XML signature.
        // libxmlsec1-dev. Not through pkg-config: SwiftPM keeps only its -I and -L flags and
        // warns about the rest (the -D flags, which CXMLSecConfig.h sets instead); the two
        // include directories are Debian's.
        .systemLibrary(name: "CXMLSec"),
        .target(name: "CXMLSecShims", dependencies: ["CXMLSec"], cSettings: [.unsafeFlags(xmlsecIncludes)]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        // libpq is loaded on first use (dlopen), not linked: see Sources/CPostgres.
        .target(name: "CPostgres"),

        // Swift: one concern per module.
        .target(name: "Posix", dependencies: ["CLinux"], swiftSettings: strict),
        .target(name: "EventLoop", dependencies: ["Posix", "CLinux"], swiftSettings: strict),
        .target(name: "HTTP1", swiftSettings: strict),
        .target(name: "JSON", swiftSettings: strict),
        .target(name: "ProxyProtocol", swiftSettings: strict),
        // What an HTTP reverse proxy forwards in headers: the card certificate and the client's address.
        .target(name: "ForwardedHeaders", dependencies: ["HTTP1", "ProxyProtocol"], swiftSettings: strict),
        .target(name: "CNS", dependencies: [
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
        .target(name: "Pages", dependencies: ["CNS"],
                resources: [.embedInCode("Resources")], swiftSettings: strict),
        .target(name: "OIDC", dependencies: [
            "CNS", "HTTP1", "JSON", "Posix",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ], swiftSettings: strict),
        .target(name: "Store", dependencies: [
            "OIDC", "JSON", "CSQLite", "CPostgres", "Posix",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
        .target(name: "TLS", dependencies: ["COpenSSL", "COpenSSLShims", "Posix"], swiftSettings: strict),
        // The outbound stack: every fetch (JWKS, CRLs, trusted lists, OCSP, cns-card's login).
        .target(name: "Outbound", dependencies: ["Posix", "TLS", "HTTP1"], swiftSettings: strict),
        .target(name: "TrustList", dependencies: [
            "CXMLSec", "CXMLSecShims", "TLS", "JSON", "Posix",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict + [.unsafeFlags(xmlsecIncludes.flatMap { ["-Xcc", $0] })]),
        .target(name: "Gateway", dependencies: [
            "Posix", "EventLoop", "TLS", "Outbound", "TrustList", "HTTP1", "JSON", "ProxyProtocol", "ForwardedHeaders", "CNS", "Pages", "OIDC", "Store",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: strict),
        .executableTarget(name: "cns-gateway", dependencies: [
            "Gateway", "Posix",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),

        .target(name: "SmartCard", dependencies: ["CPCSC", "CNS"],
                swiftSettings: strict + [.unsafeFlags(["-Xcc", "-I/usr/include/PCSC"])]),
        .target(name: "VirtualCard", dependencies: [
            "SmartCard", "CNS", "TLS", "Posix", "COpenSSL", "COpenSSLShims",
        ], swiftSettings: strict),
        .executableTarget(name: "cns-card", dependencies: [
            "SmartCard", "CNS", "TLS", "Outbound", "HTTP1", "Posix",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .executableTarget(name: "cns-virtual-card", dependencies: [
            "VirtualCard", "SmartCard", "CNS", "TLS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),

        // Tests only: a PKI made per run through OpenSSL (keys, CAs, leaves, CRLs) and a
        // one-connection HTTP(S) server on loopback.
        .target(name: "TestSupport", dependencies: ["COpenSSL", "COpenSSLShims", "TLS", "Posix"], swiftSettings: strict),

        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1"], swiftSettings: strict),
        .testTarget(name: "TLSTests", dependencies: ["TLS", "TestSupport", "COpenSSL", "COpenSSLShims"], swiftSettings: strict),
        .testTarget(name: "OutboundTests", dependencies: ["Outbound", "TLS", "HTTP1", "Posix", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "PosixTests", dependencies: ["Posix"], swiftSettings: strict),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop", "Posix"], swiftSettings: strict),
        .testTarget(name: "JSONTests", dependencies: ["JSON"], swiftSettings: strict),
        .testTarget(name: "ProxyProtocolTests", dependencies: ["ProxyProtocol"], swiftSettings: strict),
        .testTarget(name: "ForwardedHeadersTests", dependencies: ["ForwardedHeaders", "HTTP1"], swiftSettings: strict),
        .testTarget(name: "CNSTests", dependencies: [
            "CNS",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ], swiftSettings: strict),
        .testTarget(name: "SmartCardTests", dependencies: ["SmartCard", "VirtualCard"], swiftSettings: strict),
        .testTarget(name: "PagesTests", dependencies: ["Pages", "CNS"], swiftSettings: strict),
        .testTarget(name: "OIDCTests", dependencies: [
            "OIDC", "CNS", "HTTP1", "JSON",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ], swiftSettings: strict),
        .testTarget(name: "StoreTests", dependencies: ["Store", "OIDC", "CNS", "JSON", "HTTP1"], swiftSettings: strict),
        .testTarget(name: "CardToolTests", dependencies: [
            "cns-card", "SmartCard", "VirtualCard", "TLS", "Outbound", "TestSupport",
        ], swiftSettings: strict),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "TestSupport", "TLS", "HTTP1", "JSON", "Posix"], swiftSettings: strict),
        .testTarget(name: "TrustListTests", dependencies: [
            "TrustList", "TLS",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
