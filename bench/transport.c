/* transport: the floor of one call from a fresh socket, over each local
 * transport pam_vigil could use (issue #20, part 3), for bench/transport.py.
 *
 *   transport serve KIND PATH      a server on PATH, one thread, epoll, that
 *                                  answers every request at once; runs until
 *                                  killed
 *   transport call KIND PATH COUNT COUNT calls, each on a fresh socket
 *
 * KIND:
 *   stream       SOCK_STREAM, as today: connect, send, read the reply,
 *                close; the server reads the client's close (EOF) and closes
 *   stream-first SOCK_STREAM, the server closes right after its reply (the
 *                client's close then wakes nobody)
 *   seqpacket    SOCK_SEQPACKET: connect, one message each way, close
 *   dgram        SOCK_DGRAM with SO_PASSCRED: no connect, no close on the
 *                server; the client autobinds an abstract address for the
 *                reply, and the kernel attaches its credentials
 *                (SCM_CREDENTIALS) to the request
 *
 * Every kind keeps what vigil's socket needs: a fresh socket per call, the
 * peer's uid, gid and pid from the kernel (SO_PEERCRED after accept, or
 * SCM_CREDENTIALS), and one deadline for the client (SO_RCVTIMEO and
 * SO_SNDTIMEO). The request is the size of a real Auth.Report (about 300
 * bytes), the reply that of a verdict.
 *
 * `call` prints one JSON object: the count, the median and p99 wall time of
 * a call in microseconds, the client's CPU per call (getrusage) and its
 * voluntary context switches per call (each one a sleep the other side had
 * to wake). The server's switches and CPU are read from /proc by
 * bench/transport.py. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum kind { STREAM, STREAM_FIRST, SEQPACKET, DGRAM };

static const char kReply[] = "{\"ok\":true,\"result\":{\"verdict\":\"allow\"}}";

static int parse_kind(const char *s, enum kind *k) {
    if (strcmp(s, "stream") == 0) *k = STREAM;
    else if (strcmp(s, "stream-first") == 0) *k = STREAM_FIRST;
    else if (strcmp(s, "seqpacket") == 0) *k = SEQPACKET;
    else if (strcmp(s, "dgram") == 0) *k = DGRAM;
    else return -1;
    return 0;
}

static int sock_type(enum kind k) {
    return k == SEQPACKET ? SOCK_SEQPACKET : k == DGRAM ? SOCK_DGRAM : SOCK_STREAM;
}

static socklen_t set_path(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strncpy(a->sun_path, path, sizeof a->sun_path - 1);
    return (socklen_t)sizeof *a;
}

/* The uid of the peer, as the daemon must know it before it answers. */
static int peer_uid_stream(int fd) {
    struct ucred c;
    socklen_t len = sizeof c;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) return -1;
    return (int)c.uid;
}

static int serve(enum kind k, const char *path) {
    struct sockaddr_un a;
    socklen_t alen = set_path(&a, path);
    unlink(path);
    int ls = socket(AF_UNIX, sock_type(k) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, alen) != 0) {
        perror("transport serve: bind");
        return 1;
    }
    if (k == DGRAM) {
        int on = 1;
        setsockopt(ls, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    } else if (listen(ls, 128) != 0) {
        perror("transport serve: listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[64];
    char buf[8192];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (k == DGRAM) {
                for (;;) {
                    struct sockaddr_un from;
                    char cbuf[CMSG_SPACE(sizeof(struct ucred))];
                    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
                    struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                                       .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
                    ssize_t got = recvmsg(fd, &m, MSG_DONTWAIT);
                    if (got < 0) break;
                    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
                    if (!c || c->cmsg_type != SCM_CREDENTIALS || m.msg_namelen <= sizeof(sa_family_t))
                        continue; /* no credentials or no address to answer: dropped */
                    struct ucred cred;
                    memcpy(&cred, CMSG_DATA(c), sizeof cred);
                    (void)cred.uid;
                    sendto(fd, kReply, sizeof kReply - 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&from,
                           m.msg_namelen);
                }
                continue;
            }
            if (fd == ls) {
                for (int c; (c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
                    if (peer_uid_stream(c) < 0) {
                        close(c);
                        continue;
                    }
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            ssize_t got = recv(fd, buf, sizeof buf, 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got <= 0) {
                close(fd);
                continue;
            }
            /* One request per connection, as pam_vigil makes: the whole
             * frame ends with NUL (stream) or is one message (seqpacket). */
            if (k == SEQPACKET || buf[got - 1] == '\0') {
                send(fd, kReply, sizeof kReply, MSG_NOSIGNAL);
                if (k == STREAM_FIRST || k == SEQPACKET) close(fd);
            }
        }
    }
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int one_call(enum kind k, const struct sockaddr_un *a, socklen_t alen, const char *req, size_t reqlen) {
    int fd = socket(AF_UNIX, sock_type(k) | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int ok = -1;
    char buf[4096];
    if (k == DGRAM) {
        /* SO_PASSCRED autobinds the socket to an abstract address: the
         * server's reply comes back to it, and only to it. */
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
        if (sendto(fd, req, reqlen, MSG_NOSIGNAL, (const struct sockaddr *)a, alen) == (ssize_t)reqlen &&
            recv(fd, buf, sizeof buf, 0) > 0)
            ok = 0;
    } else if (connect(fd, (const struct sockaddr *)a, alen) == 0 &&
               send(fd, req, reqlen, MSG_NOSIGNAL) == (ssize_t)reqlen) {
        size_t have = 0;
        for (;;) {
            ssize_t n = recv(fd, buf + have, sizeof buf - have, 0);
            if (n <= 0) break;
            have += (size_t)n;
            if (k == SEQPACKET || buf[have - 1] == '\0') {
                ok = 0;
                break;
            }
        }
    }
    close(fd);
    return ok;
}

static int call(enum kind k, const char *path, int count) {
    struct sockaddr_un a;
    socklen_t alen = set_path(&a, path);
    char req[320];
    int len = snprintf(req, sizeof req,
                       "{\"method\":\"io.vigil.Auth.Report\",\"params\":{\"user\":\"alice\",\"outcome\":\"failure\","
                       "\"service\":\"sshd\",\"rhost\":\"203.0.113.77\",\"tty\":\"ssh\",\"nonce\":\"%064d\"}}",
                       0);
    size_t reqlen = (size_t)len + (k == STREAM || k == STREAM_FIRST ? 1 : 0); /* the stream frame's NUL */
    double *us = calloc((size_t)count, sizeof *us);
    int errors = 0;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    for (int i = 0; i < count; i++) {
        double t0 = now_us();
        if (one_call(k, &a, alen, req, reqlen) != 0) errors++;
        us[i] = now_us() - t0;
    }
    getrusage(RUSAGE_SELF, &r1);
    qsort(us, (size_t)count, sizeof *us, cmp);
    double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 +
                 (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
    printf("{\"count\":%d,\"errors\":%d,\"median_us\":%.1f,\"p99_us\":%.1f,\"client_cpu_us\":%.1f,"
           "\"client_waits\":%.2f}\n",
           count, errors, us[count / 2], us[(int)(count * 0.99)], cpu / count,
           (double)(r1.ru_nvcsw - r0.ru_nvcsw) / count);
    free(us);
    return errors ? 1 : 0;
}

int main(int argc, char **argv) {
    enum kind k;
    if (argc >= 4 && parse_kind(argv[2], &k) == 0) {
        if (argc == 4 && strcmp(argv[1], "serve") == 0) return serve(k, argv[3]);
        if (argc == 5 && strcmp(argv[1], "call") == 0 && atoi(argv[4]) > 0) return call(k, argv[3], atoi(argv[4]));
    }
    fprintf(stderr, "usage: transport serve KIND PATH\n"
                    "       transport call KIND PATH COUNT\n"
                    "KIND: stream, stream-first, seqpacket or dgram\n");
    return 2;
}
