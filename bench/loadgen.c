/*
 * loadgen: TLS 1.3 load generator for bench/run (cns-gateway vs nginx).
 *
 * Forked workers with blocking sockets; every figure the driver needs comes out as one
 * `RESULT key=value ...` line on stdout. Modes:
 *   hs     new connection per request: full handshake with a client certificate (request
 *          number i uses card (FIRST_CARD + i) mod cards, so N <= cards means N distinct cards), `GET PATH`, read the answer, close. With TLS 1.3 the
 *          server learns the verdict on the client chain only after the client's Finished,
 *          so the request/answer round trip is what proves the handshake completed.
 *   ka     one keep-alive connection per worker, `GET PATH` repeated.
 *   idle   open N connections (handshake + one request each), print READY, hold them
 *          until stdin closes.
 *   flood  a handshake flood: new connection per ticket from one of -S source addresses
 *          (127.1.0.1, 127.1.0.2, ...: all loopback), a full handshake without a card, then
 *          close without a request and without close_notify. Stops after -n handshakes or
 *          -T seconds, whichever comes first; latency is the handshake's (connect included).
 *   login  the OpenID Connect code flow: the browser's GET /authorize on the login port with a
 *          card (new connection, full handshake), as the discovery document advertises
 *          without the interstitial page, then the relying party redeems the code at /token
 *          on the public port over its own keep-alive connection (one per worker, as a back
 *          end's pool). With -H the browser first takes the public hop: GET /authorize on
 *          the public port (new connection, no card), which redirects to the login port.
 *
 * No resumption anywhere: SSL_OP_NO_TICKET, client session cache off, one SSL per connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    X509 *cert;
    STACK_OF(X509) *chain;
    EVP_PKEY *key;
} Card;

typedef struct {
    volatile long next_ticket;   /* requests handed out */
    volatile long ok;
    volatile long errors;
    volatile long latency_count;
    uint32_t latency_us[];       /* one per completed request */
} Shared;

static const char *opt_mode = "hs";
static const char *opt_host = "127.0.0.1";
static int opt_port = 0, opt_port2 = 0;
static const char *opt_cards = NULL;
static const char *opt_path = "/healthz";
static int opt_workers = 4;
static long opt_requests = 1000;
static const char *opt_client_id = "fse", *opt_secret = "", *opt_redirect = "http://127.0.0.1:9/cb";
static int opt_verbose = 0;
static int opt_public_hop = 0;
static long opt_offset = 0; /* first card index */
static int opt_sources = 0;  /* flood: source addresses */
static double opt_seconds = 0; /* flood: stop after this long (0: no limit) */
static double started_us;

static Card *cards;
static int ncards;
static SSL_CTX *ctx;
static Shared *shared;
static long latency_capacity;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what) {
    fprintf(stderr, "loadgen: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static void load_cards(const char *list) {
    FILE *f = fopen(list, "r");
    if (!f) die("cannot open card list");
    char cert_path[4096], key_path[4096];
    int cap = 0;
    while (fscanf(f, "%4095s %4095s", cert_path, key_path) == 2) {
        if (ncards == cap) {
            cap = cap ? cap * 2 : 64;
            cards = realloc(cards, sizeof(Card) * cap);
        }
        Card *c = &cards[ncards];
        FILE *cf = fopen(cert_path, "r");
        if (!cf) die("cannot open a card certificate");
        c->cert = PEM_read_X509(cf, NULL, NULL, NULL);
        c->chain = sk_X509_new_null();
        X509 *extra;
        while ((extra = PEM_read_X509(cf, NULL, NULL, NULL)) != NULL) sk_X509_push(c->chain, extra);
        ERR_clear_error();
        fclose(cf);
        FILE *kf = fopen(key_path, "r");
        if (!kf) die("cannot open a card key");
        c->key = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
        fclose(kf);
        if (!c->cert || !c->key) die("bad card certificate or key");
        ncards++;
    }
    fclose(f);
    if (ncards == 0) die("empty card list");
}

/* `source` >= 0: bind to the source-th address of 127.1.0.0/16 first. */
static int tcp_connect_from(int port, long source) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (source >= 0) {
        struct sockaddr_in local = {.sin_family = AF_INET};
        local.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | (uint32_t)(source % 65000 + 1));
        if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, opt_host, &sa.sin_addr);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int tcp_connect(int port) { return tcp_connect_from(port, -1); }

/* A TLS connection, with the card `card` (or none when card < 0). NULL on failure. */
static SSL *tls_open(int port, int card) {
    int fd = tcp_connect(port);
    if (fd < 0) return NULL;
    SSL *ssl = SSL_new(ctx);
    if (card >= 0) {
        Card *c = &cards[card];
        SSL_use_certificate(ssl, c->cert);
        SSL_use_PrivateKey(ssl, c->key);
        for (int i = 0; i < sk_X509_num(c->chain); i++) SSL_add1_chain_cert(ssl, sk_X509_value(c->chain, i));
    }
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        if (opt_verbose) ERR_print_errors_fp(stderr);
        ERR_clear_error();
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    return ssl;
}

static void tls_close(SSL *ssl) {
    if (!ssl) return;
    int fd = SSL_get_fd(ssl);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    ERR_clear_error();
}

typedef struct {
    int status;
    int close;
    char location[2048];
    char body[8192];
    int body_len;
} Response;

static int write_all(SSL *ssl, const char *buf, int len) {
    while (len > 0) {
        int n = SSL_write(ssl, buf, len);
        if (n <= 0) return -1;
        buf += n;
        len -= n;
    }
    return 0;
}

/* Reads one HTTP/1.1 response with Content-Length (our servers never chunk these). */
static int read_response(SSL *ssl, Response *r) {
    static __thread char buf[65536];
    int have = 0;
    char *end = NULL;
    memset(r, 0, sizeof *r);
    while (!end) {
        if (have == (int)sizeof buf - 1) return -1;
        int n = SSL_read(ssl, buf + have, sizeof buf - 1 - have);
        if (n <= 0) return -1;
        have += n;
        buf[have] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    int head_len = (int)(end - buf) + 4;
    if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) return -1;
    long content_length = 0;
    for (char *line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0) content_length = strtol(line + 15, NULL, 10);
        else if (strncasecmp(line, "Connection:", 11) == 0 && strstr(line, "close") && strstr(line, "close") < strstr(line, "\r\n")) r->close = 1;
        else if (strncasecmp(line, "Location:", 9) == 0) {
            char *v = line + 9;
            while (*v == ' ') v++;
            int l = (int)(strstr(v, "\r\n") - v);
            if (l >= (int)sizeof r->location) l = sizeof r->location - 1;
            memcpy(r->location, v, l);
            r->location[l] = 0;
        }
    }
    long body_have = have - head_len;
    char *body = buf + head_len;
    while (body_have < content_length) {
        if (head_len + body_have >= (long)sizeof buf - 1) return -1;
        int n = SSL_read(ssl, body + body_have, sizeof buf - 1 - head_len - body_have);
        if (n <= 0) return -1;
        body_have += n;
    }
    int keep = content_length < (long)sizeof r->body - 1 ? (int)content_length : (int)sizeof r->body - 1;
    memcpy(r->body, body, keep);
    r->body[keep] = 0;
    r->body_len = keep;
    return 0;
}

static int get(SSL *ssl, const char *path, int port, Response *r) {
    char req[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost:%d\r\nUser-Agent: cns-bench\r\n\r\n", path, port);
    if (write_all(ssl, req, n) != 0) return -1;
    return read_response(ssl, r);
}

static void record(double started) {
    long i = __sync_fetch_and_add(&shared->latency_count, 1);
    if (i < latency_capacity) shared->latency_us[i] = (uint32_t)(now_us() - started);
    __sync_fetch_and_add(&shared->ok, 1);
}

/* The next request's number, or -1 when all are handed out. */
static long ticket(void) {
    long t = __sync_fetch_and_add(&shared->next_ticket, 1);
    return t < opt_requests ? t : -1;
}

static void fail(void) { __sync_fetch_and_add(&shared->errors, 1); }

static void worker_hs(void) {
    long t;
    while ((t = ticket()) >= 0) {
        double t0 = now_us();
        Response r;
        SSL *ssl = tls_open(opt_port, (int)((opt_offset + t) % ncards));
        if (!ssl || get(ssl, opt_path, opt_port, &r) != 0 || r.status != 200) {
            if (opt_verbose && ssl) fprintf(stderr, "hs: status %d\n", r.status);
            fail();
        } else {
            record(t0);
        }
        tls_close(ssl);
    }
}

static void worker_ka(int id) {
    SSL *ssl = NULL;
    while (ticket() >= 0) {
        double t0 = now_us();
        Response r;
        if (!ssl) ssl = tls_open(opt_port, id % ncards);
        if (!ssl || get(ssl, opt_path, opt_port, &r) != 0 || r.status != 200) {
            fail();
            tls_close(ssl);
            ssl = NULL;
            continue;
        }
        record(t0);
        if (r.close) {
            tls_close(ssl);
            ssl = NULL;
        }
    }
    tls_close(ssl);
}

static void b64url(const unsigned char *in, int len, char *out) {
    unsigned char tmp[256];
    int n = EVP_EncodeBlock(tmp, in, len);
    int j = 0;
    for (int i = 0; i < n; i++) {
        char c = tmp[i];
        if (c == '=') break;
        out[j++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[j] = 0;
}

static void url_encode(const char *in, char *out) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *in; in++) {
        unsigned char c = *in;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c)) *out++ = c;
        else {
            *out++ = '%';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        }
    }
    *out = 0;
}

/* Value of `name` in the query of `url`, still percent-encoded (codes are URL-safe). */
static int query_param(const char *url, const char *name, char *out, int cap) {
    const char *q = strchr(url, '?');
    size_t nl = strlen(name);
    while (q) {
        q++;
        if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
            const char *v = q + nl + 1;
            int l = (int)strcspn(v, "&#");
            if (l >= cap) return -1;
            memcpy(out, v, l);
            out[l] = 0;
            return 0;
        }
        q = strchr(q, '&');
    }
    return -1;
}

/* Path part of an absolute https URL. */
static const char *url_path(const char *url) {
    const char *p = strstr(url, "://");
    if (!p) return url;
    p = strchr(p + 3, '/');
    return p ? p : "/";
}

static int login_once(long n, SSL **rp) {
    unsigned char raw[32];
    char verifier[64], challenge[64], redirect_enc[512], path[4096], code[1024];
    unsigned char digest[32];
    RAND_bytes(raw, sizeof raw);
    b64url(raw, sizeof raw, verifier);
    SHA256((unsigned char *)verifier, strlen(verifier), digest);
    b64url(digest, sizeof digest, challenge);
    url_encode(opt_redirect, redirect_enc);
    Response r;

    /* 1. the browser at /authorize: the login listener's, or (-H) the public one first */
    snprintf(path, sizeof path,
             "/authorize?client_id=%s&redirect_uri=%s&response_type=code&scope=openid%%20profile%%20fiscal_number%%20cns"
             "&state=st&nonce=nn&code_challenge=%s&code_challenge_method=S256",
             opt_client_id, redirect_enc, challenge);
    int rc;
    if (opt_public_hop) {
        SSL *pub = tls_open(opt_port, -1);
        rc = pub ? get(pub, path, opt_port, &r) : -1;
        tls_close(pub);
        if (rc != 0 || (r.status != 302 && r.status != 303) || !r.location[0]) {
            if (opt_verbose) fprintf(stderr, "authorize: %d %s\n%s\n", r.status, r.location, r.body);
            return -1;
        }
        snprintf(path, sizeof path, "%s", url_path(r.location));
    }

    /* 2. the login listener, with the card */
    SSL *card = tls_open(opt_port2, (int)(n % ncards));
    rc = card ? get(card, path, opt_port2, &r) : -1;
    tls_close(card);
    if (rc != 0 || (r.status != 302 && r.status != 303) || query_param(r.location, "code", code, sizeof code) != 0) {
        if (opt_verbose) fprintf(stderr, "login: %d %s\n%s\n", r.status, r.location, r.body);
        return -1;
    }

    /* 3. the relying party redeems the code */
    char body[4096], req[8192], auth_raw[512];
    unsigned char auth_b64[1024];
    snprintf(body, sizeof body, "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s", code,
             redirect_enc, verifier);
    snprintf(auth_raw, sizeof auth_raw, "%s:%s", opt_client_id, opt_secret);
    EVP_EncodeBlock(auth_b64, (unsigned char *)auth_raw, (int)strlen(auth_raw));
    int len = snprintf(req, sizeof req,
                       "POST /token HTTP/1.1\r\nHost: localhost:%d\r\nAuthorization: Basic %s\r\n"
                       "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
                       opt_port, auth_b64, strlen(body), body);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!*rp) *rp = tls_open(opt_port, -1);
        if (*rp && write_all(*rp, req, len) == 0 && read_response(*rp, &r) == 0) break;
        tls_close(*rp);
        *rp = NULL;
        if (attempt == 1) return -1;
    }
    if (r.close) {
        tls_close(*rp);
        *rp = NULL;
    }
    if (r.status != 200 || !strstr(r.body, "id_token")) {
        if (opt_verbose) fprintf(stderr, "token: %d %s\n", r.status, r.body);
        return -1;
    }
    return 0;
}

static void worker_login(int id) {
    SSL *rp = NULL;
    long t;
    (void)id;
    while ((t = ticket()) >= 0) {
        double t0 = now_us();
        if (login_once(opt_offset + t, &rp) == 0) record(t0);
        else fail();
    }
    tls_close(rp);
}

static void worker_flood(void) {
    long t;
    while ((t = ticket()) >= 0) {
        double t0 = now_us();
        if (opt_seconds > 0 && t0 - started_us > opt_seconds * 1e6) break;
        int fd = tcp_connect_from(opt_port, t % opt_sources);
        if (fd < 0) {
            fail();
            continue;
        }
        SSL *ssl = SSL_new(ctx);
        SSL_set_tlsext_host_name(ssl, "localhost");
        SSL_set_fd(ssl, fd);
        if (SSL_connect(ssl) == 1) record(t0);
        else fail();
        ERR_clear_error();
        SSL_free(ssl); /* no SSL_shutdown: the flood never says goodbye */
        close(fd);
    }
}

static volatile sig_atomic_t stop_idle;
static void on_term(int sig) { (void)sig; stop_idle = 1; }

static void worker_idle(int id, int count, int ready_fd) {
    SSL **held = calloc(count, sizeof *held);
    for (int i = 0; i < count; i++) {
        double t0 = now_us();
        Response r;
        held[i] = tls_open(opt_port, (id * count + i) % ncards);
        if (held[i] && get(held[i], opt_path, opt_port, &r) == 0 && r.status == 200) record(t0);
        else fail();
    }
    char c = 'r';
    if (write(ready_fd, &c, 1) != 1) _exit(3);
    while (!stop_idle) pause();
    for (int i = 0; i < count; i++) tls_close(held[i]);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen -m hs|ka|idle|login -p PORT [-P LOGIN_PORT [-H]] -c CARD_LIST [-w WORKERS] [-n REQUESTS]\n"
            "               [-u PATH] [-o FIRST_CARD] [-i CLIENT_ID] [-s SECRET] [-r REDIRECT_URI] [-v]\n"
            "       loadgen -m flood -p PORT -S SOURCES [-T SECONDS] [-w WORKERS] [-n HANDSHAKES]\n"
            "CARD_LIST: one `cert.pem key.pem` pair a line (cert file may hold intermediates after the leaf).\n"
            "idle: -n connections are opened and held until stdin closes.\n");
    exit(2);
}

int main(int argc, char **argv) {
    int o;
    while ((o = getopt(argc, argv, "m:h:p:P:c:w:n:u:i:s:r:o:S:T:vH")) != -1) {
        switch (o) {
        case 'm': opt_mode = optarg; break;
        case 'h': opt_host = optarg; break;
        case 'p': opt_port = atoi(optarg); break;
        case 'P': opt_port2 = atoi(optarg); break;
        case 'c': opt_cards = optarg; break;
        case 'w': opt_workers = atoi(optarg); break;
        case 'n': opt_requests = atol(optarg); break;
        case 'u': opt_path = optarg; break;
        case 'i': opt_client_id = optarg; break;
        case 's': opt_secret = optarg; break;
        case 'r': opt_redirect = optarg; break;
        case 'o': opt_offset = atol(optarg); break;
        case 'v': opt_verbose = 1; break;
        case 'H': opt_public_hop = 1; break;
        case 'S': opt_sources = atoi(optarg); break;
        case 'T': opt_seconds = atof(optarg); break;
        default: usage();
        }
    }
    int flood = strcmp(opt_mode, "flood") == 0;
    if (!opt_port || (!opt_cards && !flood) || (flood && opt_sources < 1) || opt_workers < 1 || opt_requests < 1) usage();
    if (strcmp(opt_host, "127.0.0.1") != 0) die("only 127.0.0.1 is a permitted target");
    int idle = strcmp(opt_mode, "idle") == 0;
    if (idle && opt_requests < opt_workers) opt_workers = (int)opt_requests;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    if (opt_cards) load_cards(opt_cards);
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384") != 1 || SSL_CTX_set1_groups_list(ctx, "X25519") != 1)
        die("cipher suite or group");
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* the client's cost is not what we measure */
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);

    latency_capacity = opt_requests + 16;
    size_t size = sizeof(Shared) + sizeof(uint32_t) * latency_capacity;
    shared = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) die("mmap");

    int ready[2];
    if (pipe(ready) != 0) die("pipe");
    double t0 = now_us();
    started_us = t0;
    pid_t *pids = calloc(opt_workers, sizeof *pids);
    for (int w = 0; w < opt_workers; w++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            close(ready[0]);
            signal(SIGTERM, on_term);
            if (strcmp(opt_mode, "hs") == 0) worker_hs();
            else if (strcmp(opt_mode, "ka") == 0) worker_ka(w);
            else if (strcmp(opt_mode, "login") == 0) worker_login(w);
            else if (flood) worker_flood();
            else if (idle) {
                int share = (int)(opt_requests / opt_workers) + (w < opt_requests % opt_workers);
                worker_idle(w, share, ready[1]);
            } else usage();
            _exit(0);
        }
        pids[w] = pid;
    }
    close(ready[1]);
    if (idle) {
        char c;
        for (int w = 0; w < opt_workers; w++)
            if (read(ready[0], &c, 1) != 1) die("idle worker died");
        printf("READY open=%ld errors=%ld\n", shared->ok, shared->errors);
        fflush(stdout);
        char sink[256];
        while (read(0, sink, sizeof sink) > 0) {}
        for (int w = 0; w < opt_workers; w++) kill(pids[w], SIGTERM);
    }
    for (int w = 0; w < opt_workers; w++) waitpid(pids[w], NULL, 0);
    double elapsed = (now_us() - t0) / 1e6;

    long n = shared->latency_count < latency_capacity ? shared->latency_count : latency_capacity;
    qsort(shared->latency_us, n, sizeof(uint32_t), cmp_u32);
    uint32_t p50 = n ? shared->latency_us[(long)(n * 0.50)] : 0;
    uint32_t p99 = n ? shared->latency_us[n * 99 / 100 < n ? n * 99 / 100 : n - 1] : 0;
    printf("RESULT mode=%s ok=%ld errors=%ld elapsed=%.3f rate=%.1f p50_us=%u p99_us=%u\n", opt_mode, shared->ok,
           shared->errors, elapsed, shared->ok / elapsed, p50, p99);
    return 0;
}
