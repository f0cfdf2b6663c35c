#ifndef CNS_CLINUX_H
#define CNS_CLINUX_H
// Linux calls whose glibc declarations Swift cannot use directly: packed structs
// (epoll_event), enum-valued macros (EPOLLIN), variadic or _GNU_SOURCE-only functions.

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

typedef struct {
    uint32_t events;
    uint64_t token;
} cns_epoll_ready;

extern const uint32_t CNS_EPOLLIN;
extern const uint32_t CNS_EPOLLOUT;
extern const uint32_t CNS_EPOLLERR;
extern const uint32_t CNS_EPOLLHUP;
extern const uint32_t CNS_EPOLLRDHUP;
extern const uint32_t CNS_EPOLLEXCLUSIVE;

int cns_epoll_create(void);
int cns_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
int cns_epoll_wait(int epfd, cns_epoll_ready *out, int max, int timeout_ms);
extern const int CNS_EPOLL_CTL_ADD;
extern const int CNS_EPOLL_CTL_MOD;
extern const int CNS_EPOLL_CTL_DEL;

int cns_eventfd(void);
int cns_accept4(int fd, struct sockaddr_storage *addr, socklen_t *len);

// Blocks the given signals in the calling thread (inherited by threads it starts).
int cns_block_signals(const int *signals, int count);
// Waits for one of the blocked signals; returns the signal number or -1 (errno set).
int cns_wait_signal(const int *signals, int count, int timeout_ms);
void cns_ignore_sigpipe(void);
int cns_raise_nofile_limit(void);
int cns_set_cpu_affinity_count(void);
void cns_malloc_trim(void);
// Names the calling thread (pthread_setname_np is _GNU_SOURCE-only); Linux keeps 15 bytes,
// so a longer name is cut rather than refused.
void cns_set_thread_name(const char *name);

// Sends one sd_notify datagram to the AF_UNIX socket at `path` ('@' = abstract
// namespace). Returns 0 or -1 with errno set.
int cns_notify_send(const char *path, const char *message);
// Makes an inherited descriptor non-blocking and close-on-exec.
int cns_set_nonblocking(int fd);
// 1 if fd is a listening stream socket, 0 if not, -1 on error.
int cns_is_listening_socket(int fd);
#endif
