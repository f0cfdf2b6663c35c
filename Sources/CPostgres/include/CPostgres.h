#ifndef CNS_CPOSTGRES_H
#define CNS_CPOSTGRES_H
// libpq, loaded when the first PostgreSQL connection is made (dlopen of libpq.so.5), not at
// process start: a gateway on its SQLite store never maps libpq and the GSSAPI, LDAP and
// TLS libraries it depends on. Each CNSPQ_<name> calls libpq's PQ<name>; only the types and
// constants come from the header (Debian libpq-dev).
#include <postgresql/libpq-fe.h>

/// NULL once libpq is loaded (loading it if needed), else why it could not be.
const char *CNSPQ_load(void);

PGconn *CNSPQ_connectdbParams(const char *const *keywords, const char *const *values, int expand_dbname);
ConnStatusType CNSPQ_status(const PGconn *conn);
char *CNSPQ_errorMessage(const PGconn *conn);
void CNSPQ_finish(PGconn *conn);
PGresult *CNSPQ_exec(PGconn *conn, const char *query);
PGresult *CNSPQ_execParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                           const char *const *paramValues, const int *paramLengths, const int *paramFormats,
                           int resultFormat);
void CNSPQ_clear(PGresult *res);
ExecStatusType CNSPQ_resultStatus(const PGresult *res);
int CNSPQ_ntuples(const PGresult *res);
int CNSPQ_nfields(const PGresult *res);
int CNSPQ_getisnull(const PGresult *res, int tup_num, int field_num);
char *CNSPQ_getvalue(const PGresult *res, int tup_num, int field_num);
char *CNSPQ_cmdTuples(PGresult *res);
char *CNSPQ_resultVerboseErrorMessage(const PGresult *res, PGVerbosity verbosity, PGContextVisibility show_context);
void CNSPQ_freemem(void *ptr);
#endif
