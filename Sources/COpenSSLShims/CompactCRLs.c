#define _GNU_SOURCE  // qsort_r
#include "CompactCRLs.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct CNSCRL_Compact {
    int references;
    unsigned char *der;
    size_t der_length;
    // Byte ranges (whole TLVs) in `der`.
    size_t tbs_start, tbs_length;
    size_t algorithm_start, algorithm_length;
    size_t signature_start, signature_length;
    X509_CRL *stub;
    // Offsets in `der` of each revoked serial's INTEGER contents (its length is the byte just
    // before: serials are at most 126 bytes, a short-form length), sorted by (length, bytes).
    uint32_t *serials;
    size_t count;
};

// ---- a strict DER reader ------------------------------------------------------------------

typedef struct {
    const unsigned char *base;
    size_t position;
    size_t end;
} Cursor;

typedef struct {
    unsigned char tag;
    size_t start;          // the tag byte
    size_t content;        // first content byte
    size_t length;         // content length
} Element;

static size_t element_end(const Element *e) { return e->content + e->length; }

// One TLV at the cursor: a one-byte tag, a definite length in its shortest form.
static int next(Cursor *c, Element *e) {
    if (c->position >= c->end || c->end - c->position < 2) return 0;
    const unsigned char *p = c->base;
    size_t at = c->position;
    e->tag = p[at];
    if ((e->tag & 0x1f) == 0x1f) return 0;  // high tag numbers: not in a CRL
    e->start = at;
    unsigned char first = p[at + 1];
    at += 2;
    size_t length;
    if (first < 0x80) {
        length = first;
    } else {
        size_t octets = first & 0x7f;
        if (octets == 0 || octets > 4 || c->end - at < octets || p[at] == 0) return 0;  // indefinite, huge, padded
        length = 0;
        for (size_t i = 0; i < octets; i++) length = (length << 8) | p[at + i];
        if (length < 0x80) return 0;  // should have been the short form
        at += octets;
    }
    if (c->end - at < length) return 0;
    e->content = at;
    e->length = length;
    c->position = at + length;
    return 1;
}

static Cursor inside(const Cursor *c, const Element *e) { return (Cursor){c->base, e->content, element_end(e)}; }

static int peek(const Cursor *c) { return c->position < c->end ? c->base[c->position] : -1; }

static int oid_is(const Cursor *c, const Element *oid, const unsigned char *value, size_t length) {
    return oid->tag == 0x06 && oid->length == length && memcmp(c->base + oid->content, value, length) == 0;
}

// id-ce OIDs (2.5.29.n): 55 1D n.
static const unsigned char OID_REASON_CODE[] = {0x55, 0x1d, 0x15};
static const unsigned char OID_DELTA_CRL[] = {0x55, 0x1d, 0x1b};
static const unsigned char OID_ISSUING_DISTRIBUTION_POINT[] = {0x55, 0x1d, 0x1c};
static const unsigned char OID_CERTIFICATE_ISSUER[] = {0x55, 0x1d, 0x1d};
static const unsigned char OID_AUTHORITY_KEY_IDENTIFIER[] = {0x55, 0x1d, 0x23};

typedef struct {
    Element oid;
    int critical;
    Element value;  // the OCTET STRING
} Extension;

static int read_extension(Cursor *c, Extension *x) {
    Element whole;
    if (!next(c, &whole) || whole.tag != 0x30) return 0;
    Cursor in = inside(c, &whole);
    if (!next(&in, &x->oid) || x->oid.tag != 0x06 || x->oid.length == 0) return 0;
    x->critical = 0;
    if (peek(&in) == 0x01) {
        Element flag;
        if (!next(&in, &flag) || flag.length != 1) return 0;
        unsigned char b = in.base[flag.content];
        if (b != 0x00 && b != 0xff) return 0;
        x->critical = b == 0xff;
    }
    if (!next(&in, &x->value) || x->value.tag != 0x04 || in.position != in.end) return 0;
    return 1;
}

// A minimal two's-complement INTEGER (as OpenSSL's decoder insists).
static int minimal_integer(const unsigned char *p, size_t length) {
    if (length == 0) return 0;
    if (length > 1 && ((p[0] == 0x00 && (p[1] & 0x80) == 0) || (p[0] == 0xff && (p[1] & 0x80) != 0))) return 0;
    return 1;
}

// ---- the serial table --------------------------------------------------------------------

static int compare_serials(const unsigned char *a, size_t la, const unsigned char *b, size_t lb) {
    if (la != lb) return la < lb ? -1 : 1;
    return memcmp(a, b, la);
}

static int compare_offsets(const void *x, const void *y, void *context) {
    const unsigned char *der = context;
    uint32_t a = *(const uint32_t *)x;
    uint32_t b = *(const uint32_t *)y;
    return compare_serials(der + a, der[a - 1], der + b, der[b - 1]);
}

// ---- parsing ---------------------------------------------------------------------------------

static void compact_free(CNSCRL_Compact *c) {
    if (c == NULL) return;
    X509_CRL_free(c->stub);
    free(c->serials);
    OPENSSL_free(c->der);
    free(c);
}

// Writes a DER header (tag, length) at `out` and returns its size (at most 6).
static size_t header(unsigned char *out, unsigned char tag, size_t length) {
    out[0] = tag;
    if (length < 0x80) {
        out[1] = (unsigned char)length;
        return 2;
    }
    size_t octets = 0;
    for (size_t v = length; v != 0; v >>= 8) octets++;
    out[1] = (unsigned char)(0x80 | octets);
    for (size_t i = 0; i < octets; i++) out[2 + i] = (unsigned char)(length >> (8 * (octets - 1 - i)));
    return 2 + octets;
}

int CNSCRL_compact_parse(const unsigned char *input, size_t length, CNSCRL_Compact **out) {
    *out = NULL;
    if (input == NULL || length < 16 || length >= UINT32_MAX) return 0;
    unsigned char *copy = OPENSSL_malloc(length);
    if (copy == NULL) return 0;
    memcpy(copy, input, length);
    int parsed = CNSCRL_compact_adopt(copy, length, out);
    if (parsed != 1) OPENSSL_free(copy);
    return parsed;
}

int CNSCRL_compact_adopt(unsigned char *der, size_t length, CNSCRL_Compact **out) {
    *out = NULL;
    if (der == NULL || length < 16 || length >= UINT32_MAX) return 0;
    CNSCRL_Compact *c = calloc(1, sizeof *c);
    if (c == NULL) return 0;
    c->references = 1;
    c->der = der;
    c->der_length = length;

    Cursor top = {c->der, 0, length};
    Element crl, tbs, algorithm, signature;
    if (!next(&top, &crl) || crl.tag != 0x30 || top.position != length) goto fallback;
    Cursor outer = inside(&top, &crl);
    if (!next(&outer, &tbs) || tbs.tag != 0x30) goto fallback;
    if (!next(&outer, &algorithm) || algorithm.tag != 0x30) goto fallback;
    if (!next(&outer, &signature) || signature.tag != 0x03 || signature.length < 2) goto fallback;
    if (outer.position != outer.end || c->der[signature.content] != 0) goto fallback;  // no unused bits
    c->tbs_start = tbs.start;
    c->tbs_length = element_end(&tbs) - tbs.start;
    c->algorithm_start = algorithm.start;
    c->algorithm_length = element_end(&algorithm) - algorithm.start;
    c->signature_start = signature.start;
    c->signature_length = element_end(&signature) - signature.start;

    Cursor fields = inside(&outer, &tbs);
    Element e;
    if (peek(&fields) == 0x02) {  // version: v2 (1); v1 has no field
        if (!next(&fields, &e) || e.length != 1 || c->der[e.content] != 0x01) goto fallback;
    }
    // The TBS's signature algorithm must be the outer one, byte for byte.
    if (!next(&fields, &e) || e.tag != 0x30 || element_end(&e) - e.start != c->algorithm_length
        || memcmp(c->der + e.start, c->der + algorithm.start, c->algorithm_length) != 0) goto fallback;
    if (!next(&fields, &e) || e.tag != 0x30) goto fallback;                       // issuer
    if (!next(&fields, &e) || (e.tag != 0x17 && e.tag != 0x18)) goto fallback;   // thisUpdate
    if (peek(&fields) == 0x17 || peek(&fields) == 0x18) {                          // nextUpdate
        if (!next(&fields, &e)) goto fallback;
    }
    Element revoked = {0};
    int has_revoked = 0;
    if (peek(&fields) == 0x30) {
        if (!next(&fields, &revoked)) goto fallback;
        has_revoked = 1;
    }
    if (peek(&fields) == 0xa0) {
        Element wrapper, list;
        if (!next(&fields, &wrapper)) goto fallback;
        Cursor w = inside(&fields, &wrapper);
        if (!next(&w, &list) || list.tag != 0x30 || w.position != w.end || list.length == 0) goto fallback;
        Cursor x = inside(&w, &list);
        while (x.position < x.end) {
            Extension ext;
            if (!read_extension(&x, &ext)) goto fallback;
            // Issuing distribution points and delta CRLs are OpenSSL's to judge; so is any
            // critical extension but the key identifier (OpenSSL marks the CRL as unusable).
            if (oid_is(&x, &ext.oid, OID_ISSUING_DISTRIBUTION_POINT, 3) || oid_is(&x, &ext.oid, OID_DELTA_CRL, 3)) goto fallback;
            if (ext.critical && !oid_is(&x, &ext.oid, OID_AUTHORITY_KEY_IDENTIFIER, 3)) goto fallback;
        }
    }
    if (fields.position != fields.end) goto fallback;

    if (has_revoked) {
        // First pass: count, to size the table once.
        size_t capacity = 0;
        Cursor entries = inside(&fields, &revoked);
        for (Cursor count = entries; count.position < count.end; capacity++) {
            if (!next(&count, &e) || e.tag != 0x30) goto fallback;
        }
        c->serials = malloc((capacity ? capacity : 1) * sizeof *c->serials);
        if (c->serials == NULL) goto fallback;
        int sorted = 1;
        while (entries.position < entries.end) {
            Element entry, serial, date;
            if (!next(&entries, &entry)) goto fallback;
            Cursor in = inside(&entries, &entry);
            if (!next(&in, &serial) || serial.tag != 0x02 || serial.length > 126
                || !minimal_integer(c->der + serial.content, serial.length)) goto fallback;
            if (!next(&in, &date) || (date.tag != 0x17 && date.tag != 0x18)) goto fallback;
            int removed = 0;
            if (in.position < in.end) {
                Element list;
                if (!next(&in, &list) || list.tag != 0x30 || list.length == 0 || in.position != in.end) goto fallback;
                Cursor x = inside(&in, &list);
                while (x.position < x.end) {
                    Extension ext;
                    if (!read_extension(&x, &ext)) goto fallback;
                    // An indirect CRL's entries name other issuers; a critical entry extension
                    // makes OpenSSL refuse the CRL: both are left to OpenSSL.
                    if (ext.critical || oid_is(&x, &ext.oid, OID_CERTIFICATE_ISSUER, 3)) goto fallback;
                    if (oid_is(&x, &ext.oid, OID_REASON_CODE, 3)) {
                        const unsigned char *v = c->der + ext.value.content;
                        if (ext.value.length != 3 || v[0] != 0x0a || v[1] != 0x01) goto fallback;
                        removed = v[2] == 8;  // removeFromCRL: not revoked
                    }
                }
            }
            if (removed) continue;
            uint32_t offset = (uint32_t)serial.content;
            if (c->count > 0 && sorted && compare_offsets(&c->serials[c->count - 1], &offset, c->der) > 0) sorted = 0;
            c->serials[c->count++] = offset;
        }
        if (!sorted) qsort_r(c->serials, c->count, sizeof *c->serials, compare_offsets, c->der);
    }

    // The stub: the same CRL without its revokedCertificates field.
    {
        size_t cut_start = has_revoked ? revoked.start : 0;
        size_t cut_length = has_revoked ? element_end(&revoked) - revoked.start : 0;
        size_t tbs_content = tbs.content;
        size_t tbs_content_length = tbs.length - cut_length;
        size_t rest = c->algorithm_length + c->signature_length;
        unsigned char tbs_header[8], crl_header[8];
        size_t tbs_header_length = header(tbs_header, 0x30, tbs_content_length);
        size_t total_inner = tbs_header_length + tbs_content_length + rest;
        size_t crl_header_length = header(crl_header, 0x30, total_inner);
        size_t stub_length = crl_header_length + total_inner;
        unsigned char *stub = malloc(stub_length);
        if (stub == NULL) goto fallback;
        unsigned char *w = stub;
        memcpy(w, crl_header, crl_header_length); w += crl_header_length;
        memcpy(w, tbs_header, tbs_header_length); w += tbs_header_length;
        if (has_revoked) {
            memcpy(w, c->der + tbs_content, cut_start - tbs_content); w += cut_start - tbs_content;
            size_t after = cut_start + cut_length;
            memcpy(w, c->der + after, element_end(&tbs) - after); w += element_end(&tbs) - after;
        } else {
            memcpy(w, c->der + tbs_content, tbs.length); w += tbs.length;
        }
        memcpy(w, c->der + c->algorithm_start, c->algorithm_length); w += c->algorithm_length;
        memcpy(w, c->der + c->signature_start, c->signature_length);
        const unsigned char *p = stub;
        c->stub = d2i_X509_CRL(NULL, &p, (long)stub_length);
        int consumed = c->stub != NULL && p == stub + stub_length;
        free(stub);
        if (!consumed) goto fallback;
    }
    *out = c;
    return 1;

fallback:
    c->der = NULL;  // the caller's again
    compact_free(c);
    ERR_clear_error();
    return 0;
}

int CNSCRL_compact_up_ref(CNSCRL_Compact *c) {
    __atomic_add_fetch(&c->references, 1, __ATOMIC_RELAXED);
    return 1;
}

void CNSCRL_compact_free(CNSCRL_Compact *c) {
    if (c == NULL) return;
    if (__atomic_sub_fetch(&c->references, 1, __ATOMIC_ACQ_REL) == 0) compact_free(c);
}

X509_CRL *CNSCRL_compact_stub(const CNSCRL_Compact *c) { return c->stub; }

size_t CNSCRL_compact_count(const CNSCRL_Compact *c) { return c->count; }

const unsigned char *CNSCRL_compact_der(const CNSCRL_Compact *c, size_t *length) {
    *length = c->der_length;
    return c->der;
}

int CNSCRL_compact_verify(const CNSCRL_Compact *c, EVP_PKEY *key) {
    if (key == NULL) return 0;
    const unsigned char *p = c->der + c->algorithm_start;
    X509_ALGOR *algorithm = d2i_X509_ALGOR(NULL, &p, (long)c->algorithm_length);
    if (algorithm == NULL) {
        ERR_clear_error();
        return 0;
    }
    const ASN1_OBJECT *oid = NULL;
    X509_ALGOR_get0(&oid, NULL, NULL, algorithm);
    int digest_nid = NID_undef, key_nid = NID_undef;
    int known = OBJ_find_sigid_algs(OBJ_obj2nid(oid), &digest_nid, &key_nid);
    const unsigned char *tbs = c->der + c->tbs_start;
    int ok = 0;
    if (known && digest_nid != NID_undef && EVP_PKEY_get_base_id(key) == EVP_PKEY_type(key_nid)) {
        // RSA PKCS#1 v1.5 and ECDSA with a named digest: verify over the signed bytes in place.
        const EVP_MD *digest = EVP_get_digestbynid(digest_nid);
        EVP_MD_CTX *context = EVP_MD_CTX_new();
        // The signature BIT STRING's contents after its unused-bits octet (checked to be 0).
        Cursor s = {c->der, c->signature_start, c->signature_start + c->signature_length};
        Element bits;
        if (digest != NULL && context != NULL && next(&s, &bits)
            && EVP_DigestVerifyInit(context, NULL, digest, NULL, key) == 1) {
            ok = EVP_DigestVerify(context, c->der + bits.content + 1, bits.length - 1, tbs, c->tbs_length) == 1;
        }
        EVP_MD_CTX_free(context);
    } else if (known) {
        // Algorithms with parameters or without a separate digest (RSA-PSS, EdDSA): OpenSSL's
        // generic check, over a copy of the signed bytes wrapped as an ANY.
        p = c->der + c->signature_start;
        ASN1_BIT_STRING *signature = d2i_ASN1_BIT_STRING(NULL, &p, (long)c->signature_length);
        ASN1_STRING *sequence = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
        ASN1_TYPE *any = ASN1_TYPE_new();
        if (signature != NULL && sequence != NULL && any != NULL && ASN1_STRING_set(sequence, tbs, (int)c->tbs_length) == 1) {
            ASN1_TYPE_set(any, V_ASN1_SEQUENCE, sequence);
            sequence = NULL;  // owned by `any` now
            ok = ASN1_item_verify(ASN1_ITEM_rptr(ASN1_ANY), algorithm, signature, any, key) == 1;
        }
        ASN1_STRING_free(sequence);
        ASN1_TYPE_free(any);
        ASN1_BIT_STRING_free(signature);
    }
    X509_ALGOR_free(algorithm);
    ERR_clear_error();
    return ok;
}

int CNSCRL_compact_contains(const CNSCRL_Compact *c, const ASN1_INTEGER *serial) {
    if (c->count == 0 || serial == NULL) return 0;
    unsigned char buffer[160];
    int length = i2d_ASN1_INTEGER(serial, NULL);
    if (length <= 2 || length > (int)sizeof buffer) return 0;
    unsigned char *w = buffer;
    if (i2d_ASN1_INTEGER(serial, &w) != length) return 0;
    // Tag, then the length (short form for serials up to 127 bytes: longer are never listed).
    if (buffer[1] >= 0x80) return 0;
    const unsigned char *value = buffer + 2;
    size_t value_length = buffer[1];
    size_t low = 0, high = c->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        uint32_t offset = c->serials[middle];
        int order = compare_serials(c->der + offset, c->der[offset - 1], value, value_length);
        if (order == 0) return 1;
        if (order < 0) low = middle + 1; else high = middle;
    }
    return 0;
}
