#define _GNU_SOURCE  // getline
#include "CRLFileReader.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct CNSCRL_FileReader {
    FILE *file;
    size_t size;
    int der;       // the file is one DER CRL
    int finished;
    char *line;
    size_t line_capacity;
};

static const char BEGIN[] = "-----BEGIN X509 CRL-----";
static const char END[] = "-----END X509 CRL-----";

CNSCRL_FileReader *CNSCRL_reader_open(const char *path) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) return NULL;
    struct stat info;
    CNSCRL_FileReader *reader = calloc(1, sizeof *reader);
    if (reader == NULL || fstat(fileno(file), &info) != 0) {
        free(reader);
        fclose(file);
        return NULL;
    }
    reader->file = file;
    reader->size = (size_t)info.st_size;
    int first = fgetc(file);
    // A DER CRL starts with its SEQUENCE tag; anything else is read as PEM text.
    reader->der = first == 0x30;
    if (first != EOF) ungetc(first, file);
    return reader;
}

// Whether `line` is `marker` followed only by white space.
static int is_marker(const char *line, const char *marker) {
    size_t length = strlen(marker);
    if (strncmp(line, marker, length) != 0) return 0;
    for (const char *p = line + length; *p != '\0'; p++) {
        if (*p != '\r' && *p != '\n' && *p != ' ' && *p != '\t') return 0;
    }
    return 1;
}

static int read_der(CNSCRL_FileReader *r, unsigned char **der, size_t *length, const char **problem) {
    r->finished = 1;
    unsigned char *buffer = OPENSSL_malloc(r->size > 0 ? r->size : 1);
    if (buffer == NULL) {
        *problem = "out of memory";
        return -1;
    }
    size_t got = fread(buffer, 1, r->size, r->file);
    if (got != r->size || fgetc(r->file) != EOF) {
        OPENSSL_free(buffer);
        *problem = "the file changed while it was read";
        return -1;
    }
    *der = buffer;
    *length = got;
    return 1;
}

int CNSCRL_reader_next(CNSCRL_FileReader *r, unsigned char **der, size_t *length, const char **problem) {
    *der = NULL;
    *length = 0;
    *problem = NULL;
    if (r->finished) return 0;
    if (r->der) return read_der(r, der, length, problem);
    // Find the next CRL block.
    for (;;) {
        ssize_t got = getline(&r->line, &r->line_capacity, r->file);
        if (got < 0) {
            r->finished = 1;
            return 0;
        }
        if (is_marker(r->line, BEGIN)) break;
    }
    // Its DER is at most 3/4 of what is left of the file.
    long at = ftell(r->file);
    size_t left = at >= 0 && (size_t)at < r->size ? r->size - (size_t)at : 0;
    size_t capacity = left / 4 * 3 + 80;
    unsigned char *buffer = OPENSSL_malloc(capacity);
    EVP_ENCODE_CTX *decoder = EVP_ENCODE_CTX_new();
    if (buffer == NULL || decoder == NULL) {
        OPENSSL_free(buffer);
        EVP_ENCODE_CTX_free(decoder);
        *problem = "out of memory";
        return -1;
    }
    EVP_DecodeInit(decoder);
    size_t used = 0;
    int ended = 0;
    for (;;) {
        ssize_t got = getline(&r->line, &r->line_capacity, r->file);
        if (got < 0) break;
        if (is_marker(r->line, END)) {
            ended = 1;
            break;
        }
        if (strchr(r->line, ':') != NULL) {  // RFC 1421 headers: encrypted PEM, never a CRL
            *problem = "a PEM block with headers";
            goto failed;
        }
        // Each line decodes to at most 3/4 of its length (plus what the decoder holds back).
        if ((size_t)got > INT32_MAX || used + (size_t)got / 4 * 3 + 80 > capacity) {
            *problem = "a PEM line longer than the file";
            goto failed;
        }
        int written = 0;
        if (EVP_DecodeUpdate(decoder, buffer + used, &written, (const unsigned char *)r->line, (int)got) < 0) {
            *problem = "bad base64 in a PEM block";
            goto failed;
        }
        used += (size_t)written;
    }
    if (!ended) {
        *problem = "a PEM block without its END line";
        goto failed;
    }
    int written = 0;
    if (EVP_DecodeFinal(decoder, buffer + used, &written) < 0) {
        *problem = "bad base64 in a PEM block";
        goto failed;
    }
    used += (size_t)written;
    EVP_ENCODE_CTX_free(decoder);
    if (used == 0) {
        OPENSSL_free(buffer);
        *problem = "an empty PEM block";
        return -1;
    }
    // Give back what the estimate over-reserved (a file of several CRLs).
    if (capacity - used > 4096) {
        unsigned char *smaller = OPENSSL_realloc(buffer, used);
        if (smaller != NULL) buffer = smaller;
    }
    *der = buffer;
    *length = used;
    return 1;

failed:
    OPENSSL_free(buffer);
    EVP_ENCODE_CTX_free(decoder);
    r->finished = 1;
    return -1;
}

void CNSCRL_reader_close(CNSCRL_FileReader *r) {
    if (r == NULL) return;
    fclose(r->file);
    free(r->line);
    free(r);
}
