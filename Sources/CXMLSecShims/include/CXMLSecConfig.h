#ifndef CNS_CXMLSEC_CONFIG_H
#define CNS_CXMLSEC_CONFIG_H
// The -D flags of `pkg-config --cflags xmlsec1-openssl` (xmlsec 1.2.37, Debian 12).
// SwiftPM drops every pkg-config flag but -I and -L ("prohibited flags"), yet these change
// the library's ABI (XMLSEC_NO_SIZE_T makes xmlSecSize an unsigned int, the size fields of
// every xmlsec struct): both the C shims and Swift's view of the headers must see them.
// Included before any xmlsec header; TrustListTests checks them against pkg-config.
#ifndef XMLSEC_NO_SIZE_T
#define XMLSEC_NO_SIZE_T 1
#endif
#ifndef XMLSEC_OPENSSL3_ENGINES
#define XMLSEC_OPENSSL3_ENGINES 1
#endif
#ifndef XMLSEC_NO_GOST
#define XMLSEC_NO_GOST 1
#endif
#ifndef XMLSEC_NO_GOST2012
#define XMLSEC_NO_GOST2012 1
#endif
#ifndef XMLSEC_NO_CRYPTO_DYNAMIC_LOADING
#define XMLSEC_NO_CRYPTO_DYNAMIC_LOADING 1
#endif
#ifndef XMLSEC_CRYPTO_OPENSSL
#define XMLSEC_CRYPTO_OPENSSL 1
#endif
#ifndef __XMLSEC_FUNCTION__
#define __XMLSEC_FUNCTION__ __func__
#endif
#endif
