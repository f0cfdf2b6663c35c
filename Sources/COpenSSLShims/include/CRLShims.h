#ifndef CNS_CRL_SHIMS_H
#define CNS_CRL_SHIMS_H
// What the CRL refresher needs from OpenSSL and Swift cannot import: the STACK_OF macros
// for CRL distribution points and general names. Each is CNSCRL_<original name> and does
// only what the original does.
#include <openssl/x509v3.h>

int CNSCRL_sk_DIST_POINT_num(const STACK_OF(DIST_POINT) *sk);
DIST_POINT *CNSCRL_sk_DIST_POINT_value(const STACK_OF(DIST_POINT) *sk, int i);
int CNSCRL_sk_GENERAL_NAME_num(const STACK_OF(GENERAL_NAME) *sk);
GENERAL_NAME *CNSCRL_sk_GENERAL_NAME_value(const STACK_OF(GENERAL_NAME) *sk, int i);
#endif
