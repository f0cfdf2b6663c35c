// The RSA_METHOD API is deprecated in OpenSSL 3.0 but still the way to route a private-key
// operation to a card; compile these one-line wrappers without the deprecation attributes.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "RSAMethodShims.h"
#include <openssl/evp.h>

int CNSRSA_RSA_get_ex_new_index(void) { return RSA_get_ex_new_index(0, NULL, NULL, NULL, NULL); }
RSA *CNSRSA_RSA_new(void) { return RSA_new(); }
void CNSRSA_RSA_free(RSA *rsa) { RSA_free(rsa); }
int CNSRSA_RSA_size(const RSA *rsa) { return RSA_size(rsa); }
int CNSRSA_RSA_set0_key(RSA *rsa, BIGNUM *n, BIGNUM *e, BIGNUM *d) { return RSA_set0_key(rsa, n, e, d); }
int CNSRSA_RSA_set_method(RSA *rsa, const RSA_METHOD *method) { return RSA_set_method(rsa, method); }
int CNSRSA_RSA_set_ex_data(RSA *rsa, int index, void *data) { return RSA_set_ex_data(rsa, index, data); }
void *CNSRSA_RSA_get_ex_data(const RSA *rsa, int index) { return RSA_get_ex_data(rsa, index); }
const RSA_METHOD *CNSRSA_RSA_PKCS1_OpenSSL(void) { return RSA_PKCS1_OpenSSL(); }
RSA_METHOD *CNSRSA_RSA_meth_dup(const RSA_METHOD *method) { return RSA_meth_dup(method); }
int CNSRSA_RSA_meth_set1_name(RSA_METHOD *method, const char *name) { return RSA_meth_set1_name(method, name); }
int CNSRSA_RSA_meth_set_priv_enc(RSA_METHOD *method, CNSRSA_priv_enc_fn priv_enc) { return RSA_meth_set_priv_enc(method, priv_enc); }
void CNSRSA_RSA_meth_free(RSA_METHOD *method) { RSA_meth_free(method); }
int CNSRSA_EVP_PKEY_assign_RSA(EVP_PKEY *pkey, RSA *rsa) { return EVP_PKEY_assign_RSA(pkey, rsa); }

const int CNSRSA_RSA_PKCS1_PADDING = RSA_PKCS1_PADDING;
const int CNSRSA_RSA_NO_PADDING = RSA_NO_PADDING;
