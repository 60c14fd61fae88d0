// Plain UDP relay for bridged RTP calls: the "physical limit" the media benchmark compares the
// gateway with. For each call two sockets on 127.0.0.1 (A side base+4i, B side base+4i+2, the
// even ports of RTP/RTCP pairs as a gateway would allocate them). Each socket latches the source
// of the first packet it receives and from then on accepts only that source (strict symmetric
// RTP); a packet received on one side is sent from the other side's socket to that side's
// latched peer. recvmmsg/sendmmsg batch whatever is queued on a socket; one epoll loop per
// thread, calls spread over threads round-robin.
//
// usage: relay <base_port> <calls> <threads>
// Prints {"ready":true} when every socket is bound, runs until SIGTERM/SIGINT, then prints
// one JSON line of counters.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define MAXPKT 2048

struct side {
  int fd;
  int latched;
  struct sockaddr_in peer;
  struct side *other;
};

struct worker {
  pthread_t thread;
  int epfd;
  uint64_t received, forwarded, dropped_unlatched, dropped_foreign, send_errors;
};

static volatile sig_atomic_t stopping = 0;
static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static int open_side(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int buf = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void *run(void *arg) {
  struct worker *w = arg;
  static __thread unsigned char bufs[BATCH][MAXPKT];
  static __thread struct mmsghdr in[BATCH], out[BATCH];
  static __thread struct iovec iov_in[BATCH], iov_out[BATCH];
  static __thread struct sockaddr_in from[BATCH];
  struct epoll_event events[256];
  for (int i = 0; i < BATCH; i++) {
    iov_in[i].iov_base = bufs[i];
    iov_in[i].iov_len = MAXPKT;
    in[i].msg_hdr.msg_iov = &iov_in[i];
    in[i].msg_hdr.msg_iovlen = 1;
    in[i].msg_hdr.msg_name = &from[i];
    out[i].msg_hdr.msg_iov = &iov_out[i];
    out[i].msg_hdr.msg_iovlen = 1;
  }
  while (!stopping) {
    int n = epoll_wait(w->epfd, events, 256, 100);
    for (int e = 0; e < n; e++) {
      struct side *s = events[e].data.ptr;
      for (;;) {
        for (int i = 0; i < BATCH; i++) in[i].msg_hdr.msg_namelen = sizeof from[i];
        int got = recvmmsg(s->fd, in, BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0) break;
        w->received += (uint64_t)got;
        struct side *o = s->other;
        int nout = 0;
        for (int i = 0; i < got; i++) {
          if (!s->latched) {
            s->peer = from[i];
            s->latched = 1;
          } else if (from[i].sin_addr.s_addr != s->peer.sin_addr.s_addr ||
                     from[i].sin_port != s->peer.sin_port) {
            w->dropped_foreign++;
            continue;
          }
          if (!o->latched) {
            w->dropped_unlatched++;
            continue;
          }
          iov_out[nout].iov_base = bufs[i];
          iov_out[nout].iov_len = in[i].msg_len;
          out[nout].msg_hdr.msg_name = &o->peer;
          out[nout].msg_hdr.msg_namelen = sizeof o->peer;
          nout++;
        }
        int sent = 0;
        while (sent < nout) {
          int r = sendmmsg(o->fd, out + sent, (unsigned)(nout - sent), 0);
          if (r < 0) {
            if (errno == EINTR) continue;
            w->send_errors += (uint64_t)(nout - sent);
            break;
          }
          sent += r;
        }
        w->forwarded += (uint64_t)sent;
        if (got < BATCH) break;
      }
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: relay <base_port> <calls> <threads>\n");
    return 2;
  }
  int base = atoi(argv[1]), calls = atoi(argv[2]), threads = atoi(argv[3]);
  if (base <= 0 || calls <= 0 || threads <= 0 || base + 4 * calls > 65535) {
    fprintf(stderr, "relay: bad arguments\n");
    return 2;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct worker *workers = calloc((size_t)threads, sizeof *workers);
  struct side *sides = calloc((size_t)calls * 2, sizeof *sides);
  for (int t = 0; t < threads; t++) workers[t].epfd = epoll_create1(0);
  for (int c = 0; c < calls; c++) {
    struct side *a = &sides[2 * c], *b = &sides[2 * c + 1];
    a->fd = open_side(base + 4 * c);
    b->fd = open_side(base + 4 * c + 2);
    if (a->fd < 0 || b->fd < 0) {
      fprintf(stderr, "relay: cannot bind call %d near port %d: %s\n", c, base + 4 * c, strerror(errno));
      return 1;
    }
    a->other = b;
    b->other = a;
    struct worker *w = &workers[c % threads];
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.ptr = a;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, a->fd, &ev);
    ev.data.ptr = b;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, b->fd, &ev);
  }
  for (int t = 0; t < threads; t++) pthread_create(&workers[t].thread, NULL, run, &workers[t]);
  printf("{\"ready\":true}\n");
  fflush(stdout);
  uint64_t rx = 0, fw = 0, du = 0, df = 0, se = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(workers[t].thread, NULL);
    rx += workers[t].received;
    fw += workers[t].forwarded;
    du += workers[t].dropped_unlatched;
    df += workers[t].dropped_foreign;
    se += workers[t].send_errors;
  }
  printf("{\"received\":%llu,\"forwarded\":%llu,\"droppedUnlatched\":%llu,\"droppedForeign\":%llu,"
         "\"sendErrors\":%llu}\n",
         (unsigned long long)rx, (unsigned long long)fw, (unsigned long long)du,
         (unsigned long long)df, (unsigned long long)se);
  return 0;
}
