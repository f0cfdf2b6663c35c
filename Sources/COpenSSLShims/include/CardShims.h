#ifndef CNS_CARD_SHIMS_H
#define CNS_CARD_SHIMS_H
// What cns-card needs from OpenSSL and Swift cannot call directly: macros, and the RSA_METHOD
// functions OpenSSL 3.0 marks deprecated (Swift would warn at every use; OpenSSL 3.0 has no
// other small way to let a key's private operation happen on a smart card). Each function is
// CNSCard_<original name> and does only what the original does.
#include <openssl/rsa.h>
#include <openssl/ssl.h>

typedef int (*CNSCard_priv_enc_fn)(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding);

int CNSCard_RSA_get_ex_new_index(void);
RSA *CNSCard_RSA_new(void);
void CNSCard_RSA_free(RSA *rsa);
int CNSCard_RSA_size(const RSA *rsa);
int CNSCard_RSA_set0_key(RSA *rsa, BIGNUM *n, BIGNUM *e, BIGNUM *d);
int CNSCard_RSA_set_method(RSA *rsa, const RSA_METHOD *method);
int CNSCard_RSA_set_ex_data(RSA *rsa, int index, void *data);
void *CNSCard_RSA_get_ex_data(const RSA *rsa, int index);
const RSA_METHOD *CNSCard_RSA_PKCS1_OpenSSL(void);
RSA_METHOD *CNSCard_RSA_meth_dup(const RSA_METHOD *method);
int CNSCard_RSA_meth_set1_name(RSA_METHOD *method, const char *name);
int CNSCard_RSA_meth_set_priv_enc(RSA_METHOD *method, CNSCard_priv_enc_fn priv_enc);
void CNSCard_RSA_meth_free(RSA_METHOD *method);
int CNSCard_EVP_PKEY_assign_RSA(EVP_PKEY *pkey, RSA *rsa);
long CNSCard_SSL_set_tlsext_host_name(SSL *ssl, const char *name);
long CNSCard_SSL_CTX_set1_client_sigalgs_list(SSL_CTX *ctx, const char *list);

extern const int CNSCard_RSA_PKCS1_PADDING;
extern const int CNSCard_RSA_NO_PADDING;
#endif
