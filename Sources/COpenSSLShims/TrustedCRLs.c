#include "TrustedCRLs.h"

#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>

typedef struct {
    X509_CRL *crl;
    X509 *issuer;
    CNSCRL_Compact *compact;  // NULL for a CRL OpenSSL parsed whole
} VerifiedPair;

typedef struct {
    VerifiedPair *pairs;
    int count;
    int capacity;
} VerifiedList;

typedef int (*CheckCRL)(X509_STORE_CTX *, X509_CRL *);
typedef int (*CertCRL)(X509_STORE_CTX *, X509_CRL *, X509 *);

static int list_index = -1;
static CheckCRL openssl_check_crl = NULL;
static CertCRL openssl_cert_crl = NULL;
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;

static void free_list(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    VerifiedList *list = ptr;
    if (list == NULL) return;
    for (int i = 0; i < list->count; i++) {
        X509_CRL_free(list->pairs[i].crl);
        X509_free(list->pairs[i].issuer);
        CNSCRL_compact_free(list->pairs[i].compact);
    }
    free(list->pairs);
    free(list);
}

// OpenSSL's default check_crl is not exported; a context initialised on a store without an
// override carries it.
static void setup(void) {
    list_index = X509_STORE_get_ex_new_index(0, NULL, NULL, NULL, free_list);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (store != NULL && ctx != NULL && X509_STORE_CTX_init(ctx, store, NULL, NULL) == 1) {
        openssl_check_crl = X509_STORE_CTX_get_check_crl(ctx);
        openssl_cert_crl = X509_STORE_CTX_get_cert_crl(ctx);
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
}

static int add_pair(X509_STORE *store, X509_CRL *crl, X509 *issuer, CNSCRL_Compact *compact) {
    pthread_once(&setup_once, setup);
    if (list_index < 0) return 0;
    VerifiedList *list = X509_STORE_get_ex_data(store, list_index);
    if (list == NULL) {
        list = calloc(1, sizeof *list);
        if (list == NULL) return 0;
        if (X509_STORE_set_ex_data(store, list_index, list) != 1) {
            free(list);
            return 0;
        }
    }
    if (list->count == list->capacity) {
        int capacity = list->capacity ? list->capacity * 2 : 8;
        VerifiedPair *grown = realloc(list->pairs, (size_t)capacity * sizeof *grown);
        if (grown == NULL) return 0;
        list->pairs = grown;
        list->capacity = capacity;
    }
    if (X509_CRL_up_ref(crl) != 1) return 0;
    if (X509_up_ref(issuer) != 1) {
        X509_CRL_free(crl);
        return 0;
    }
    if (compact != NULL) CNSCRL_compact_up_ref(compact);
    list->pairs[list->count++] = (VerifiedPair){crl, issuer, compact};
    return 1;
}

int CNSCRL_store_add_verified(X509_STORE *store, X509_CRL *crl, X509 *issuer) {
    return add_pair(store, crl, issuer, NULL);
}

int CNSCRL_store_add_verified_compact(X509_STORE *store, CNSCRL_Compact *compact, X509 *issuer) {
    return add_pair(store, CNSCRL_compact_stub(compact), issuer, compact);
}

static int was_verified(const VerifiedList *list, X509_CRL *crl, X509 *issuer) {
    for (int i = 0; i < list->count; i++) {
        // Both compare the cached SHA-1 of the whole encoding (and then the encoding).
        if (X509_CRL_match(list->pairs[i].crl, crl) == 0 && X509_cmp(list->pairs[i].issuer, issuer) == 0) return 1;
    }
    return 0;
}

static int report(X509_STORE_CTX *ctx, int error) {
    X509_STORE_CTX_set_error(ctx, error);
    X509_STORE_CTX_verify_cb callback = X509_STORE_CTX_get_verify_cb(ctx);
    return callback != NULL ? callback(0, ctx) : 0;
}

static int check_crl(X509_STORE_CTX *ctx, X509_CRL *crl) {
    X509_STORE *store = X509_STORE_CTX_get0_store(ctx);
    const VerifiedList *list = store != NULL ? X509_STORE_get_ex_data(store, list_index) : NULL;
    X509 *issuer = X509_STORE_CTX_get0_current_issuer(ctx);
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    unsigned long flags = X509_VERIFY_PARAM_get_flags(param);
    const unsigned long suiteB = X509_V_FLAG_SUITEB_128_LOS_ONLY | X509_V_FLAG_SUITEB_192_LOS | X509_V_FLAG_SUITEB_128_LOS;

    int usual = list != NULL && issuer != NULL && chain != NULL && (flags & suiteB) == 0
        && X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, -1) < 0
        && X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) < 0;
    if (usual) {
        // The CRL's issuer must be the next certificate on the path, or the self-issued
        // anchor itself for its own CRL: the same issuer OpenSSL's check would take.
        int depth = X509_STORE_CTX_get_error_depth(ctx);
        int last = sk_X509_num(chain) - 1;
        X509 *onPath = sk_X509_value(chain, depth < last ? depth + 1 : last);
        usual = onPath == issuer && (depth < last || X509_check_issued(issuer, issuer) == X509_V_OK)
            && was_verified(list, crl, issuer);
    }
    if (!usual) {
        return openssl_check_crl != NULL ? openssl_check_crl(ctx, crl) : report(ctx, X509_V_ERR_UNSPECIFIED);
    }
    if ((X509_get_extension_flags(issuer) & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(issuer) & KU_CRL_SIGN) == 0
        && !report(ctx, X509_V_ERR_KEYUSAGE_NO_CRL_SIGN)) {
        return 0;
    }
    if ((flags & X509_V_FLAG_NO_CHECK_TIME) != 0) return 1;
    time_t at = 0;
    time_t *when = NULL;
    if ((flags & X509_V_FLAG_USE_CHECK_TIME) != 0) {
        at = X509_VERIFY_PARAM_get_time(param);
        when = &at;
    }
    int order = X509_cmp_time(X509_CRL_get0_lastUpdate(crl), when);
    if (order == 0 && !report(ctx, X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD)) return 0;
    if (order > 0 && !report(ctx, X509_V_ERR_CRL_NOT_YET_VALID)) return 0;
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    if (next != NULL) {
        order = X509_cmp_time(next, when);
        if (order == 0 && !report(ctx, X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD)) return 0;
        if (order < 0 && !report(ctx, X509_V_ERR_CRL_HAS_EXPIRED)) return 0;
    }
    return 1;
}

// Whether `crl` was recorded as verified with a CA other than `issuer`.
static int verified_for_another(const VerifiedList *list, X509_CRL *crl, X509 *issuer) {
    for (int i = 0; i < list->count; i++) {
        if (X509_CRL_match(list->pairs[i].crl, crl) == 0 && X509_cmp(list->pairs[i].issuer, issuer) != 0) return 1;
    }
    return 0;
}

// The CRLs OpenSSL may choose from for the certificate being checked. OpenSSL looks CRLs up by
// issuer name only, and a CRL without authorityKeyIdentifier matches every CA of that name: with
// two CAs of one name (a CA renewed with a new key) it takes the newest of their CRLs, and then
// checks it against the other CA's key ("CRL signature failure"). The store knows which CA's key
// verified which CRL at load, so of the CRLs named like the issuer on the path it offers those
// recorded for that very issuer; failing those, the ones not recorded for another CA (an
// intermediate's CRL, checked by OpenSSL as before); never another CA's.
static STACK_OF(X509_CRL) *lookup_crls(const X509_STORE_CTX *cctx, const X509_NAME *name) {
    X509_STORE_CTX *ctx = (X509_STORE_CTX *)cctx;  // the getters below do not modify it
    STACK_OF(X509_CRL) *all = X509_STORE_CTX_get1_crls(ctx, name);
    X509_STORE *store = X509_STORE_CTX_get0_store(ctx);
    const VerifiedList *list = store != NULL ? X509_STORE_get_ex_data(store, list_index) : NULL;
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    if (all == NULL || list == NULL || chain == NULL) return all;
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    int last = sk_X509_num(chain) - 1;
    if (depth < 0 || depth > last) return all;
    X509 *issuer = sk_X509_value(chain, depth < last ? depth + 1 : last);
    STACK_OF(X509_CRL) *own = sk_X509_CRL_new_null();
    STACK_OF(X509_CRL) *unclaimed = sk_X509_CRL_new_null();
    if (own == NULL || unclaimed == NULL) {
        sk_X509_CRL_free(own);
        sk_X509_CRL_free(unclaimed);
        return all;
    }
    for (int i = 0; i < sk_X509_CRL_num(all); i++) {
        X509_CRL *crl = sk_X509_CRL_value(all, i);
        if (was_verified(list, crl, issuer)) {
            sk_X509_CRL_push(own, crl);
        } else if (!verified_for_another(list, crl, issuer)) {
            sk_X509_CRL_push(unclaimed, crl);
        } else {
            X509_CRL_free(crl);
        }
    }
    sk_X509_CRL_free(all);  // the references moved to the two stacks (or were dropped)
    if (sk_X509_CRL_num(own) > 0) {
        sk_X509_CRL_pop_free(unclaimed, X509_CRL_free);
        return own;
    }
    sk_X509_CRL_free(own);
    return unclaimed;
}

// The compact CRL whose stub `crl` is, if it is one.
static const CNSCRL_Compact *compact_of(const VerifiedList *list, X509_CRL *crl) {
    for (int i = 0; i < list->count; i++) {
        if (list->pairs[i].crl == crl && list->pairs[i].compact != NULL) return list->pairs[i].compact;
    }
    // A stub equal to a recorded one (the same CRL in two files: the store kept the first).
    for (int i = 0; i < list->count; i++) {
        if (list->pairs[i].compact != NULL && X509_CRL_match(list->pairs[i].crl, crl) == 0) return list->pairs[i].compact;
    }
    return NULL;
}

// Whether `x` is revoked by `crl`: a compact CRL answers from its table (what OpenSSL's own
// check does with the entries, which the stub does not have; the compact parser left every CRL
// with a critical or indirect feature to OpenSSL); any other goes to OpenSSL's check.
static int cert_crl(X509_STORE_CTX *ctx, X509_CRL *crl, X509 *x) {
    X509_STORE *store = X509_STORE_CTX_get0_store(ctx);
    const VerifiedList *list = store != NULL ? X509_STORE_get_ex_data(store, list_index) : NULL;
    const CNSCRL_Compact *compact = list != NULL ? compact_of(list, crl) : NULL;
    if (compact == NULL) return openssl_cert_crl != NULL ? openssl_cert_crl(ctx, crl, x) : report(ctx, X509_V_ERR_UNSPECIFIED);
    if (CNSCRL_compact_contains(compact, X509_get0_serialNumber(x)) && !report(ctx, X509_V_ERR_CERT_REVOKED)) return 0;
    return 1;
}

int CNSCRL_store_use_verified_crls(X509_STORE *store) {
    pthread_once(&setup_once, setup);
    if (openssl_check_crl == NULL || openssl_cert_crl == NULL || list_index < 0) return 0;
    X509_STORE_set_check_crl(store, check_crl);
    X509_STORE_set_lookup_crls(store, lookup_crls);
    X509_STORE_set_cert_crl(store, cert_crl);
    return 1;
}
