#include "CPostgres.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

// Every libpq function the store calls, resolved once. A missing symbol means a libpq
// older than the one we build against: the whole load fails and says which.
#define CNSPQ_FUNCTIONS(X) \
    X(PQconnectdbParams) X(PQstatus) X(PQerrorMessage) X(PQfinish) X(PQexec) X(PQexecParams) X(PQclear) \
    X(PQresultStatus) X(PQntuples) X(PQnfields) X(PQgetisnull) X(PQgetvalue) X(PQcmdTuples) \
    X(PQresultVerboseErrorMessage) X(PQfreemem)

static struct {
#define X(name) __typeof__(&name) name;
    CNSPQ_FUNCTIONS(X)
#undef X
} pq;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[512];
static int loaded;

static void load(void) {
    void *handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        snprintf(failure, sizeof failure, "cannot load libpq (install the Debian package libpq5): %s", dlerror());
        return;
    }
#define X(name)                                                                                   \
    pq.name = (__typeof__(&name))dlsym(handle, #name);                                            \
    if (pq.name == NULL) {                                                                        \
        snprintf(failure, sizeof failure, "libpq.so.5 has no %s: a newer libpq5 is needed", #name); \
        return;                                                                                   \
    }
    CNSPQ_FUNCTIONS(X)
#undef X
    loaded = 1;
}

const char *CNSPQ_load(void) {
    pthread_once(&once, load);
    return loaded ? NULL : failure;
}

// Callers load first (CNSPQ_load before the first connection); a connection or result only
// exists once libpq is loaded, so the rest call through directly.
PGconn *CNSPQ_connectdbParams(const char *const *keywords, const char *const *values, int expand_dbname) {
    return CNSPQ_load() == NULL ? pq.PQconnectdbParams(keywords, values, expand_dbname) : NULL;
}
ConnStatusType CNSPQ_status(const PGconn *conn) { return pq.PQstatus(conn); }
char *CNSPQ_errorMessage(const PGconn *conn) { return pq.PQerrorMessage(conn); }
void CNSPQ_finish(PGconn *conn) { pq.PQfinish(conn); }
PGresult *CNSPQ_exec(PGconn *conn, const char *query) { return pq.PQexec(conn, query); }
PGresult *CNSPQ_execParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                           const char *const *paramValues, const int *paramLengths, const int *paramFormats,
                           int resultFormat) {
    return pq.PQexecParams(conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat);
}
void CNSPQ_clear(PGresult *res) { pq.PQclear(res); }
ExecStatusType CNSPQ_resultStatus(const PGresult *res) { return pq.PQresultStatus(res); }
int CNSPQ_ntuples(const PGresult *res) { return pq.PQntuples(res); }
int CNSPQ_nfields(const PGresult *res) { return pq.PQnfields(res); }
int CNSPQ_getisnull(const PGresult *res, int tup_num, int field_num) { return pq.PQgetisnull(res, tup_num, field_num); }
char *CNSPQ_getvalue(const PGresult *res, int tup_num, int field_num) { return pq.PQgetvalue(res, tup_num, field_num); }
char *CNSPQ_cmdTuples(PGresult *res) { return pq.PQcmdTuples(res); }
char *CNSPQ_resultVerboseErrorMessage(const PGresult *res, PGVerbosity verbosity, PGContextVisibility show_context) {
    return pq.PQresultVerboseErrorMessage(res, verbosity, show_context);
}
void CNSPQ_freemem(void *ptr) { pq.PQfreemem(ptr); }
