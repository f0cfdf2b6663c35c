#ifndef CNS_CRL_FILE_READER_H
#define CNS_CRL_FILE_READER_H
// Reads the CRLs of one file (a DER CRL, or PEM text with "X509 CRL" blocks; other blocks are
// skipped) one DER at a time, without holding the file's text: a PEM block is decoded line by
// line into a buffer sized from the file, so a 37 MB PEM CRL costs its 27 MB of DER and no more.
#include <stddef.h>

typedef struct CNSCRL_FileReader CNSCRL_FileReader;

/// NULL with errno set when the file cannot be opened.
CNSCRL_FileReader *CNSCRL_reader_open(const char *path);
/// 1: `*der` (from OPENSSL_malloc, the caller's to free) holds the next CRL's DER; 0: no more;
/// -1: the file is malformed (`*problem` says how, a static string), or memory ran out.
int CNSCRL_reader_next(CNSCRL_FileReader *reader, unsigned char **der, size_t *length, const char **problem);
void CNSCRL_reader_close(CNSCRL_FileReader *reader);
#endif
