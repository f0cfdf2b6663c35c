#ifndef CNS_COMPACT_CRLS_H
#define CNS_COMPACT_CRLS_H
// A CRL held as its signed DER and a sorted table of its revoked serial numbers, instead of
// OpenSSL's X509_CRL with one X509_REVOKED object (and its serial, date and extensions) per
// entry: a CRL of 1,000,000 entries takes about 250 MB as an X509_CRL and about 35 MB here,
// and a reload that holds the old CRL and the new one at once stays within reach.
//
// Parsing walks the DER (strictly: definite minimal lengths, minimal INTEGERs, the fields of
// RFC 5280 5.1 in order, nothing after the end) and keeps, per entry, only the serial. What it
// does not model is left to OpenSSL: a CRL with an issuing distribution point, a delta CRL
// indicator, a critical extension other than the authority key identifier, an indirect entry
// (certificateIssuer) or a critical entry extension is reported as not compactable, and the
// caller parses it with d2i_X509_CRL as before. An entry whose reason is removeFromCRL is not
// revoked (as OpenSSL's own look-up treats it).
//
// The stub is a real X509_CRL decoded from the original with its revokedCertificates field
// left out: the same issuer, dates, extensions and outer signature, so OpenSSL selects, scores
// and time-checks it as it would the original; its signature does not verify (its TBS is not
// the signed one), so it is only ever used through TrustedCRLs, which knows the CRL was
// verified at load from the original DER (CNSCRL_compact_verify).
#include <openssl/x509.h>
#include <stddef.h>

typedef struct CNSCRL_Compact CNSCRL_Compact;

/// Parses one DER CRL. Returns 1 and a compact CRL (reference count 1) in `*out`; 0 when the CRL
/// is valid DER but uses something the compact form does not model (the caller falls back to
/// d2i_X509_CRL); -1 when the bytes are not a CRL. The DER is copied.
int CNSCRL_compact_parse(const unsigned char *der, size_t length, CNSCRL_Compact **out);
/// The same without the copy: on 1 the compact CRL owns `der` (from OPENSSL_malloc); on 0 the
/// caller still does.
int CNSCRL_compact_adopt(unsigned char *der, size_t length, CNSCRL_Compact **out);

int CNSCRL_compact_up_ref(CNSCRL_Compact *compact);
void CNSCRL_compact_free(CNSCRL_Compact *compact);

/// The stub X509_CRL (borrowed: lives as long as the compact CRL).
X509_CRL *CNSCRL_compact_stub(const CNSCRL_Compact *compact);
/// Revoked entries (removeFromCRL entries excluded).
size_t CNSCRL_compact_count(const CNSCRL_Compact *compact);
/// The original DER (borrowed).
const unsigned char *CNSCRL_compact_der(const CNSCRL_Compact *compact, size_t *length);
/// 1 when the CRL's signature verifies with `key` (over the original TBS), else 0.
int CNSCRL_compact_verify(const CNSCRL_Compact *compact, EVP_PKEY *key);
/// 1 when `serial` is listed as revoked.
int CNSCRL_compact_contains(const CNSCRL_Compact *compact, const ASN1_INTEGER *serial);
#endif
