#include "COpenSSLShims.h"

long CNSSSL_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) { return SSL_CTX_set_min_proto_version(ctx, version); }
long CNSSSL_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) { return SSL_CTX_set_max_proto_version(ctx, version); }
long CNSSSL_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
long CNSSSL_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }
long CNSSSL_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) { return SSL_CTX_set1_groups_list(ctx, list); }
long CNSSSL_SSL_set_tlsext_host_name(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
long CNSSSL_SSL_CTX_set1_client_sigalgs_list(SSL_CTX *ctx, const char *list) { return SSL_CTX_set1_client_sigalgs_list(ctx, list); }
long CNSSSL_SSL_get_peer_signature_nid(SSL *ssl, int *nid) { return SSL_get_peer_signature_nid(ssl, nid); }
int CNSSSL_SSL_get_ex_new_index(void) { return SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL); }
int CNSSSL_X509_STORE_CTX_get_ex_new_index(void) { return X509_STORE_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL); }
STACK_OF(X509) *CNSSSL_sk_X509_new_null(void) { return sk_X509_new_null(); }
int CNSSSL_sk_X509_push(STACK_OF(X509) *sk, X509 *cert) { return sk_X509_push(sk, cert); }
void CNSSSL_sk_X509_free(STACK_OF(X509) *sk) { sk_X509_free(sk); }
int CNSSSL_sk_X509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
X509 *CNSSSL_sk_X509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }
STACK_OF(X509_NAME) *CNSSSL_sk_X509_NAME_new_null(void) { return sk_X509_NAME_new_null(); }
int CNSSSL_sk_X509_NAME_push(STACK_OF(X509_NAME) *sk, X509_NAME *name) { return sk_X509_NAME_push(sk, name); }
int CNSSSL_sk_X509_NAME_num(const STACK_OF(X509_NAME) *sk) { return sk_X509_NAME_num(sk); }
void CNSSSL_sk_X509_NAME_pop_free(STACK_OF(X509_NAME) *sk) { sk_X509_NAME_pop_free(sk, X509_NAME_free); }
void CNSSSL_OPENSSL_free(void *p) { OPENSSL_free(p); }
long CNSSSL_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
int CNSSSL_BIO_seek(BIO *bio, long offset) { return BIO_seek(bio, offset); }

const long CNSSSL_MODE_ENABLE_PARTIAL_WRITE = SSL_MODE_ENABLE_PARTIAL_WRITE;
const long CNSSSL_MODE_ACCEPT_MOVING_WRITE_BUFFER = SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
const long CNSSSL_MODE_RELEASE_BUFFERS = SSL_MODE_RELEASE_BUFFERS;
const long CNSSSL_SESS_CACHE_OFF = SSL_SESS_CACHE_OFF;
const long CNSSSL_SESS_CACHE_SERVER = SSL_SESS_CACHE_SERVER;
const uint64_t CNSSSL_OP_NO_RENEGOTIATION = SSL_OP_NO_RENEGOTIATION;
const uint64_t CNSSSL_OP_CIPHER_SERVER_PREFERENCE = SSL_OP_CIPHER_SERVER_PREFERENCE;
const uint64_t CNSSSL_OP_NO_COMPRESSION = SSL_OP_NO_COMPRESSION;
const uint64_t CNSSSL_OP_NO_TICKET = SSL_OP_NO_TICKET;
const uint64_t CNSSSL_OP_IGNORE_UNEXPECTED_EOF = SSL_OP_IGNORE_UNEXPECTED_EOF;
// RFC 2253-like "C=IT, O=..., CN=..." without escaping '+' and '/' inside values,
// which CNS common names contain.
const unsigned long CNSSSL_NAME_FLAGS = XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN | XN_FLAG_DUMP_UNKNOWN_FIELDS
    | ASN1_STRFLGS_UTF8_CONVERT | ASN1_STRFLGS_ESC_CTRL;
int CNSSSL_sk_X509_REVOKED_num(const STACK_OF(X509_REVOKED) *sk) { return sk_X509_REVOKED_num(sk); }
void CNSSSL_sk_X509_REVOKED_sort(STACK_OF(X509_REVOKED) *sk) { sk_X509_REVOKED_sort(sk); }
int CNSSSL_sk_OPENSSL_STRING_num(const STACK_OF(OPENSSL_STRING) *sk) { return sk_OPENSSL_STRING_num(sk); }
char *CNSSSL_sk_OPENSSL_STRING_value(const STACK_OF(OPENSSL_STRING) *sk, int i) { return sk_OPENSSL_STRING_value(sk, i); }
