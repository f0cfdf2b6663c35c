#define _GNU_SOURCE
#include "CLinux.h"
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <pthread.h>
#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

const uint32_t CNS_EPOLLIN = EPOLLIN;
const uint32_t CNS_EPOLLOUT = EPOLLOUT;
const uint32_t CNS_EPOLLERR = EPOLLERR;
const uint32_t CNS_EPOLLHUP = EPOLLHUP;
const uint32_t CNS_EPOLLRDHUP = EPOLLRDHUP;
const uint32_t CNS_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE;
const int CNS_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
const int CNS_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
const int CNS_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

int cns_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cns_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cns_epoll_wait(int epfd, cns_epoll_ready *out, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        out[i].events = evs[i].events;
        out[i].token = evs[i].data.u64;
    }
    return n;
}

int cns_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int cns_accept4(int fd, struct sockaddr_storage *addr, socklen_t *len) {
    *len = sizeof(struct sockaddr_storage);
    return accept4(fd, (struct sockaddr *)addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

static void fill_set(sigset_t *set, const int *signals, int count) {
    sigemptyset(set);
    for (int i = 0; i < count; i++) sigaddset(set, signals[i]);
}

int cns_block_signals(const int *signals, int count) {
    sigset_t set;
    fill_set(&set, signals, count);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int cns_wait_signal(const int *signals, int count, int timeout_ms) {
    sigset_t set;
    fill_set(&set, signals, count);
    struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
    return sigtimedwait(&set, NULL, &ts);
}

void cns_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

int cns_raise_nofile_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    return (int)rl.rlim_cur;
}

int cns_set_cpu_affinity_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

void cns_malloc_trim(void) { malloc_trim(0); }

void cns_set_thread_name(const char *name) {
    char buffer[16];
    strncpy(buffer, name, sizeof buffer - 1);
    buffer[sizeof buffer - 1] = '\0';
    pthread_setname_np(pthread_self(), buffer);
}

int cns_notify_send(const char *path, const char *message) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof addr.sun_path) { errno = EINVAL; return -1; }
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@') addr.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    ssize_t n;
    do {
        n = sendto(fd, message, strlen(message), MSG_NOSIGNAL, (struct sockaddr *)&addr,
                   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    } while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 0;
}

int cns_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int cns_is_listening_socket(int fd) {
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return -1;
    len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) return -1;
    return type == SOCK_STREAM && listening ? 1 : 0;
}
