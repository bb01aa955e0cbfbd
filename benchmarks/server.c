/* Benchmark server: loopback only, compiled with gcc at run time by run.py.
 *
 * Written in C so that the server is never the bottleneck and its cost is the
 * same for every candidate measured: only the client side varies. One thread
 * per connection (blocking I/O), plus one epoll thread for the idle "sink"
 * connections of the memory workload (10,000 threads would measure the
 * server, not the client).
 *
 * Ports (all on 127.0.0.1, chosen by the kernel, printed on stdout as
 * "echo=N bulk=N tls_echo=N tls_bulk=N sink=N tls_sink=N mecho=N" once listening):
 *   echo      echoes every byte back until the client closes
 *   bulk      reads an 8-byte big-endian count, sends that many bytes, closes
 *   tls_echo  echo over TLS
 *   tls_bulk  bulk over TLS; ends with close_notify, then FIN
 *   sink      accepts and holds connections, never writes; closes on EOF
 *   tls_sink  the same over TLS: completes the handshake, then holds
 *   mecho     echo for many streams at once: one epoll thread serves them all
 *             (the scale workloads; 10,000 threads would measure the server)
 *
 * Usage: server CERT_PEM KEY_PEM
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 65536

enum mode { ECHO, BULK, TLS_ECHO, TLS_BULK };

static SSL_CTX *ssl_ctx;
static char payload[CHUNK];

struct listener {
    int fd;
    enum mode mode;
};

static int listen_on(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (fd < 0) { perror("socket"); exit(1); }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); exit(1); }
    if (listen(fd, 4096) < 0) { perror("listen"); exit(1); }
    getsockname(fd, (struct sockaddr *)&addr, &len);
    return fd;
}

static int port_of(int fd) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    return ntohs(addr.sin_port);
}

static int send_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
        if (k < 0) { if (errno == EINTR) continue; return -1; }
        buf += k;
        n -= (size_t)k;
    }
    return 0;
}

static int recv_exact(int fd, char *buf, size_t n) {
    while (n > 0) {
        ssize_t k = recv(fd, buf, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        buf += k;
        n -= (size_t)k;
    }
    return 0;
}

static uint64_t be64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | b[i];
    return v;
}

/* Wait for the client to close, so that our close never resets a connection
 * whose last bytes the client has not read yet. */
static void drain(int fd) {
    char buf[4096];
    while (recv(fd, buf, sizeof buf, 0) > 0) {}
}

static void plain_echo(int fd) {
    char buf[CHUNK];
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        if (send_all(fd, buf, (size_t)k) < 0) return;
    }
}

static void plain_bulk(int fd) {
    unsigned char hdr[8];
    if (recv_exact(fd, (char *)hdr, 8) < 0) return;
    uint64_t left = be64(hdr);
    while (left > 0) {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        if (send_all(fd, payload, n) < 0) return;
        left -= n;
    }
    shutdown(fd, SHUT_WR);
    drain(fd);
}

static int ssl_read_exact(SSL *ssl, char *buf, int n) {
    while (n > 0) {
        int k = SSL_read(ssl, buf, n);
        if (k <= 0) return -1;
        buf += k;
        n -= k;
    }
    return 0;
}

static void tls_serve(int fd, enum mode mode) {
    SSL *ssl = SSL_new(ssl_ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) <= 0) goto done;
    if (mode == TLS_ECHO) {
        char buf[CHUNK];
        for (;;) {
            int k = SSL_read(ssl, buf, sizeof buf);
            if (k <= 0) break;
            if (SSL_write(ssl, buf, k) <= 0) break;
        }
        /* Answer the client's close_notify with ours: clients that wait for it
         * (anyio's standard_compatible close) must not see a broken stream. */
        SSL_shutdown(ssl);
    } else {
        unsigned char hdr[8];
        if (ssl_read_exact(ssl, (char *)hdr, 8) < 0) goto done;
        uint64_t left = be64(hdr);
        while (left > 0) {
            int n = left < CHUNK ? (int)left : CHUNK;
            if (SSL_write(ssl, payload, n) <= 0) goto done;
            left -= (uint64_t)n;
        }
        /* close_notify, then FIN: the sequence that caught uvloop out. */
        SSL_shutdown(ssl);
        shutdown(fd, SHUT_WR);
        drain(fd);
    }
done:
    SSL_free(ssl);
}

static void *serve(void *arg) {
    intptr_t packed = (intptr_t)arg;
    int fd = (int)(packed >> 8);
    enum mode mode = (enum mode)(packed & 0xff);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    switch (mode) {
    case ECHO: plain_echo(fd); break;
    case BULK: plain_bulk(fd); break;
    default: tls_serve(fd, mode); break;
    }
    close(fd);
    return NULL;
}

static void *accept_loop(void *arg) {
    struct listener *l = arg;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1 << 20);
    for (;;) {
        int fd = accept(l->fd, NULL, NULL);
        if (fd < 0) { if (errno == EINTR || errno == ECONNABORTED) continue; perror("accept"); continue; }
        pthread_t t;
        intptr_t packed = ((intptr_t)fd << 8) | (intptr_t)l->mode;
        if (pthread_create(&t, &attr, serve, (void *)packed) != 0) { close(fd); }
    }
    return NULL;
}

/* An epoll instance watching a listener for reading (its event's data: the fd). */
static int epoll_with(int lfd) {
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    return ep;
}

/* The same, with a NULL pointer as the listener's event data. */
static int epoll_with_ptr(int lfd) {
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    return ep;
}

/* Idle connections for the memory workload: one epoll thread holds them all. */
static void *sink_loop(void *arg) {
    int lfd = *(int *)arg, ep = epoll_with(lfd);
    struct epoll_event events[256];
    char buf[4096];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c = accept(lfd, NULL, NULL);
                if (c < 0) continue;
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
            } else {
                ssize_t k = recv(fd, buf, sizeof buf, 0);
                if (k <= 0) { epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); close(fd); }
            }
        }
    }
    return NULL;
}

/* Idle TLS connections: the handshake, driven by epoll, then held like sink's. */
static void *tls_sink_loop(void *arg) {
    int lfd = *(int *)arg, ep = epoll_with_ptr(lfd);
    struct epoll_event events[256];
    char buf[4096];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            SSL *ssl = events[i].data.ptr;
            if (ssl == NULL) {
                int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                if (c < 0) continue;
                ssl = SSL_new(ssl_ctx);
                SSL_set_fd(ssl, c);
                SSL_set_accept_state(ssl);
                struct epoll_event cev = {.events = EPOLLIN, .data.ptr = ssl};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                continue;
            }
            int fd = SSL_get_fd(ssl), k, err;
            /* The handshake, then whatever the client sends, until it would block. */
            for (;;) {
                k = SSL_is_init_finished(ssl) ? SSL_read(ssl, buf, sizeof buf) : SSL_do_handshake(ssl);
                if (k <= 0) break;
            }
            err = SSL_get_error(ssl, k);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                /* a flight the socket could not take at once (rare on loopback): wait for room */
                uint32_t want = err == SSL_ERROR_WANT_WRITE ? EPOLLIN | EPOLLOUT : EPOLLIN;
                struct epoll_event wev = {.events = want, .data.ptr = ssl};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &wev);
            } else {
                /* Answer the client's close_notify with ours (anyio waits for it). */
                if (err == SSL_ERROR_ZERO_RETURN) SSL_shutdown(ssl);
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                SSL_free(ssl);
                close(fd);
            }
        }
    }
    return NULL;
}

/* Echo for many streams at once, non-blocking: a client sends 64 bytes and
 * waits for them before it sends more, so a send never finds a full buffer. */
static void *mecho_loop(void *arg) {
    int lfd = *(int *)arg, ep = epoll_with(lfd);
    struct epoll_event events[256];
    char buf[CHUNK];
    int one = 1;
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            ssize_t k = recv(fd, buf, sizeof buf, 0);
            if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (k <= 0 || send(fd, buf, (size_t)k, MSG_NOSIGNAL) != k) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s CERT_PEM KEY_PEM\n", argv[0]); return 2; }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    memset(payload, 'x', sizeof payload);

    ssl_ctx = SSL_CTX_new(TLS_server_method());
    if (!ssl_ctx || SSL_CTX_use_certificate_chain_file(ssl_ctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ssl_ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    /* No session tickets: nothing but application data after the handshake. */
    SSL_CTX_set_num_tickets(ssl_ctx, 0);

    static struct listener ls[4];
    enum mode modes[4] = {ECHO, BULK, TLS_ECHO, TLS_BULK};
    for (int i = 0; i < 4; i++) { ls[i].fd = listen_on(); ls[i].mode = modes[i]; }
    static int sink, tls_sink, mecho;
    sink = listen_on();
    tls_sink = listen_on();
    mecho = listen_on();
    fcntl(mecho, F_SETFL, O_NONBLOCK);
    fcntl(tls_sink, F_SETFL, O_NONBLOCK);
    printf("echo=%d bulk=%d tls_echo=%d tls_bulk=%d sink=%d tls_sink=%d mecho=%d\n",
           port_of(ls[0].fd), port_of(ls[1].fd), port_of(ls[2].fd), port_of(ls[3].fd),
           port_of(sink), port_of(tls_sink), port_of(mecho));
    fflush(stdout);

    pthread_t t;
    for (int i = 0; i < 4; i++) pthread_create(&t, NULL, accept_loop, &ls[i]);
    pthread_create(&t, NULL, sink_loop, &sink);
    pthread_create(&t, NULL, tls_sink_loop, &tls_sink);
    pthread_create(&t, NULL, mecho_loop, &mecho);
    /* Run until the parent closes our stdin. */
    char c;
    while (read(0, &c, 1) > 0) {}
    return 0;
}
