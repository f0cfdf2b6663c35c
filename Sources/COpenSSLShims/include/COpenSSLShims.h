#ifndef CNS_COPENSSL_SHIMS_H
#define CNS_COPENSSL_SHIMS_H
// One named function for every OpenSSL macro (or macro-generated inline) the Swift
// side needs: CNSSSL_<original name>. No logic beyond the macro itself.
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

long CNSSSL_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
long CNSSSL_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
long CNSSSL_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
long CNSSSL_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
long CNSSSL_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list);
long CNSSSL_SSL_set_tlsext_host_name(SSL *ssl, const char *name);
long CNSSSL_SSL_CTX_set1_client_sigalgs_list(SSL_CTX *ctx, const char *list);
long CNSSSL_SSL_get_peer_signature_nid(SSL *ssl, int *nid);
int CNSSSL_SSL_get_ex_new_index(void);
int CNSSSL_X509_STORE_CTX_get_ex_new_index(void);
STACK_OF(X509) *CNSSSL_sk_X509_new_null(void);
int CNSSSL_sk_X509_push(STACK_OF(X509) *sk, X509 *cert);
void CNSSSL_sk_X509_free(STACK_OF(X509) *sk);
int CNSSSL_sk_X509_num(const STACK_OF(X509) *sk);
X509 *CNSSSL_sk_X509_value(const STACK_OF(X509) *sk, int i);
STACK_OF(X509_NAME) *CNSSSL_sk_X509_NAME_new_null(void);
int CNSSSL_sk_X509_NAME_push(STACK_OF(X509_NAME) *sk, X509_NAME *name);
int CNSSSL_sk_X509_NAME_num(const STACK_OF(X509_NAME) *sk);
void CNSSSL_sk_X509_NAME_pop_free(STACK_OF(X509_NAME) *sk);
void CNSSSL_OPENSSL_free(void *p);
long CNSSSL_BIO_get_mem_data(BIO *bio, char **data);
int CNSSSL_BIO_seek(BIO *bio, long offset);
int CNSSSL_sk_X509_REVOKED_num(const STACK_OF(X509_REVOKED) *sk);
void CNSSSL_sk_X509_REVOKED_sort(STACK_OF(X509_REVOKED) *sk);
int CNSSSL_sk_OPENSSL_STRING_num(const STACK_OF(OPENSSL_STRING) *sk);
char *CNSSSL_sk_OPENSSL_STRING_value(const STACK_OF(OPENSSL_STRING) *sk, int i);

extern const long CNSSSL_MODE_ENABLE_PARTIAL_WRITE;
extern const long CNSSSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
extern const long CNSSSL_MODE_RELEASE_BUFFERS;
extern const long CNSSSL_SESS_CACHE_OFF;
extern const long CNSSSL_SESS_CACHE_SERVER;
extern const uint64_t CNSSSL_OP_NO_RENEGOTIATION;
extern const uint64_t CNSSSL_OP_CIPHER_SERVER_PREFERENCE;
extern const uint64_t CNSSSL_OP_NO_COMPRESSION;
extern const uint64_t CNSSSL_OP_NO_TICKET;
extern const uint64_t CNSSSL_OP_IGNORE_UNEXPECTED_EOF;
extern const unsigned long CNSSSL_NAME_FLAGS;
#include "RSAMethodShims.h"
#include "CRLShims.h"
#include "TrustedCRLs.h"
#include "CompactCRLs.h"
#include "CRLFileReader.h"
#endif
