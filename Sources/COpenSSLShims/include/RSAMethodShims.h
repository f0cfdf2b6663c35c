#ifndef CNS_RSA_METHOD_SHIMS_H
#define CNS_RSA_METHOD_SHIMS_H
// The RSA_METHOD functions OpenSSL 3.0 marks deprecated (Swift would warn at every use;
// OpenSSL 3.0 has no other small way to let a key's private operation happen elsewhere, on
// a smart card): TLS's external RSA key uses them for cns-card's login. Each function is
// CNSRSA_<original name> and does only what the original does.
#include <openssl/rsa.h>

typedef int (*CNSRSA_priv_enc_fn)(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding);

int CNSRSA_RSA_get_ex_new_index(void);
RSA *CNSRSA_RSA_new(void);
void CNSRSA_RSA_free(RSA *rsa);
int CNSRSA_RSA_size(const RSA *rsa);
int CNSRSA_RSA_set0_key(RSA *rsa, BIGNUM *n, BIGNUM *e, BIGNUM *d);
int CNSRSA_RSA_set_method(RSA *rsa, const RSA_METHOD *method);
int CNSRSA_RSA_set_ex_data(RSA *rsa, int index, void *data);
void *CNSRSA_RSA_get_ex_data(const RSA *rsa, int index);
const RSA_METHOD *CNSRSA_RSA_PKCS1_OpenSSL(void);
RSA_METHOD *CNSRSA_RSA_meth_dup(const RSA_METHOD *method);
int CNSRSA_RSA_meth_set1_name(RSA_METHOD *method, const char *name);
int CNSRSA_RSA_meth_set_priv_enc(RSA_METHOD *method, CNSRSA_priv_enc_fn priv_enc);
void CNSRSA_RSA_meth_free(RSA_METHOD *method);
int CNSRSA_EVP_PKEY_assign_RSA(EVP_PKEY *pkey, RSA *rsa);

extern const int CNSRSA_RSA_PKCS1_PADDING;
extern const int CNSRSA_RSA_NO_PADDING;
#endif
