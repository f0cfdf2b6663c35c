#ifndef CNS_TRUSTED_CRLS_H
#define CNS_TRUSTED_CRLS_H
// CRL checking that does not re-verify, on every chain verification, a CRL signature the
// trust store already verified when it was built.
//
// OpenSSL's own check_crl verifies the CRL's signature each time a certificate is checked
// against it (for a 4096-bit CA and a CRL of a few hundred entries that is about a third of
// a full handshake). The trust store verifies each CRL against its CA once, at load, and
// records the (CRL, CA certificate) pair here. During a verification, a CRL of such a pair
// whose issuer on the path is that same CA certificate gets every check of OpenSSL's
// check_crl except the signature: the issuer's keyUsage must allow cRLSign, and the CRL
// must be within its validity period (errors reported through the verify callback, as
// OpenSSL does). Anything else (a CRL not verified at load, an issuer sent by the client
// that is not byte-identical to the CA it was verified against, indirect or delta CRLs,
// issuing distribution points, Suite B) goes through OpenSSL's own check_crl unchanged.
#include <openssl/x509.h>
#include "CompactCRLs.h"

/// Records that `crl`'s signature verified under `issuer`'s key (both up-ref'd).
/// Creates the store's list on first use; the store frees it. Returns 1, or 0 on failure.
int CNSCRL_store_add_verified(X509_STORE *store, X509_CRL *crl, X509 *issuer);

/// The same for a compact CRL (CompactCRLs.h): its stub is what the store holds, and whether a
/// certificate is revoked is answered from its table (the stub has no entries).
int CNSCRL_store_add_verified_compact(X509_STORE *store, CNSCRL_Compact *compact, X509 *issuer);

/// Makes `store` use the check above and choose CRLs by the key that verified them at load
/// (same-name CAs with CRLs lacking authorityKeyIdentifier each get their own CRL); its
/// contexts inherit both. Returns 1, or 0 on failure.
int CNSCRL_store_use_verified_crls(X509_STORE *store);
#endif
