// RTP load generator and checker for the media benchmark. For each bridged call it owns two
// sockets on 127.0.0.1, the A party and the B party: A sends one stream to the relay's A-side
// address, B sends one to the relay's B-side address, and each expects the other's stream back.
// Packets are 172 bytes (12-byte RTP header, 160 bytes of G.711 µ-law payload), paced evenly: the
// 2N streams are phase-shifted so the whole load is a steady packet every period/2N. The first
// bytes of the payload carry a magic, the stream number, a sequence number and the send time, so
// the checker needs nothing from the RTP header (a relay may rewrite SSRC, sequence, timestamp).
//
// The receiver counts, per stream: unique packets (loss = sent − unique), duplicates, packets
// older than the newest already seen (reordered), packets that arrived on the wrong socket, and
// the latency receive − send, where receive is the kernel's timestamp on the arriving datagram
// (SO_TIMESTAMPNS) so the checker's own scheduling does not count against the relay.
//
// usage: loadgen <config> <duration_s> <packets_per_s_per_stream> <drain_ms>
// config: one line per call: "a_port a_dest_ip a_dest_port b_port b_dest_ip b_dest_port"
// (a_port/b_port 0 = any free port; the ports used are printed). Before the measured stream each
// socket sends three priming packets so a latching relay learns both parties. Output: JSON.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PKT 172
#define HDR 12
#define MAGIC 0x45444c42u /* "EDLB" */
#define PRIME 0x5052494du /* "PRIM" */
#define HIST_US 1000000
#define BATCH 32
#define EARLY_NS 100000ull

struct stream_state {
  uint32_t max_seq;
  int any;
  uint8_t *seen;
};

static int nsock;          /* 2 per call; socket i sends stream i, receives stream i^1 */
static int *fds;
static struct sockaddr_in *dests;
static uint32_t per_stream; /* packets per stream */
static struct stream_state *st;
static uint32_t *hist;
static uint64_t lat_max_ns, received, duplicates, reordered, misrouted, invalid, primes, beyond_hist;
static volatile int receiving = 1;

static uint64_t now_ns(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void sleep_until(uint64_t mono_ns) {
  struct timespec t = {.tv_sec = (time_t)(mono_ns / 1000000000ull), .tv_nsec = (long)(mono_ns % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {
  }
}

static void account(int sock, const unsigned char *p, unsigned len, uint64_t rx_ns) {
  uint32_t magic, stream, seq;
  uint64_t sent_ns;
  if (len < HDR + 20) {
    invalid++;
    return;
  }
  memcpy(&magic, p + HDR, 4);
  if (magic == PRIME) {
    primes++;
    return;
  }
  memcpy(&stream, p + HDR + 4, 4);
  memcpy(&seq, p + HDR + 8, 4);
  memcpy(&sent_ns, p + HDR + 12, 8);
  if (magic != MAGIC || stream >= (uint32_t)nsock || seq >= per_stream) {
    invalid++;
    return;
  }
  if ((int)(stream ^ 1u) != sock) misrouted++;
  struct stream_state *s = &st[stream];
  uint8_t bit = (uint8_t)(1u << (seq & 7));
  if (s->seen[seq >> 3] & bit) {
    duplicates++;
    return;
  }
  s->seen[seq >> 3] |= bit;
  received++;
  if (s->any && seq < s->max_seq) reordered++;
  if (!s->any || seq > s->max_seq) s->max_seq = seq;
  s->any = 1;
  uint64_t lat = rx_ns > sent_ns ? rx_ns - sent_ns : 0;
  if (lat > lat_max_ns) lat_max_ns = lat;
  uint64_t us = lat / 1000;
  if (us >= HIST_US) {
    beyond_hist++;
    us = HIST_US - 1;
  }
  hist[us]++;
}

static void *receiver(void *arg) {
  int ep = *(int *)arg;
  static unsigned char bufs[BATCH][2048];
  static char ctl[BATCH][64];
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  struct epoll_event ev[256];
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = sizeof bufs[i];
    memset(&m[i], 0, sizeof m[i]);
    m[i].msg_hdr.msg_iov = &iov[i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  while (receiving) {
    int n = epoll_wait(ep, ev, 256, 20);
    for (int e = 0; e < n; e++) {
      int sock = (int)ev[e].data.u32;
      for (;;) {
        for (int i = 0; i < BATCH; i++) {
          m[i].msg_hdr.msg_control = ctl[i];
          m[i].msg_hdr.msg_controllen = sizeof ctl[i];
        }
        int got = recvmmsg(fds[sock], m, BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0) break;
        uint64_t user_rx = now_ns(CLOCK_REALTIME);
        for (int i = 0; i < got; i++) {
          uint64_t rx = user_rx;
          for (struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr); c; c = CMSG_NXTHDR(&m[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
              struct timespec ts;
              memcpy(&ts, CMSG_DATA(c), sizeof ts);
              rx = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
            }
          }
          account(sock, bufs[i], m[i].msg_len, rx);
        }
        if (got < BATCH) break;
      }
    }
  }
  return NULL;
}

static uint64_t percentile_us(double q) {
  if (received == 0) return 0;
  uint64_t target = (uint64_t)((double)received * q);
  if (target >= received) target = received - 1;
  uint64_t acc = 0;
  for (uint32_t i = 0; i < HIST_US; i++) {
    acc += hist[i];
    if (acc > target) return i;
  }
  return HIST_US;
}

static int open_sock(int port, uint16_t *bound) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int buf = 1 << 20, one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  *bound = ntohs(a.sin_port);
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: loadgen <config> <duration_s> <pps_per_stream> <drain_ms>\n");
    return 2;
  }
  double duration = atof(argv[2]);
  int pps = atoi(argv[3]), drain_ms = atoi(argv[4]);
  FILE *f = fopen(argv[1], "r");
  if (!f || duration <= 0 || pps <= 0) {
    fprintf(stderr, "loadgen: bad arguments\n");
    return 2;
  }
  int cap = 64, calls = 0;
  fds = malloc(sizeof(int) * (size_t)cap * 2);
  dests = malloc(sizeof(struct sockaddr_in) * (size_t)cap * 2);
  uint16_t *ports = malloc(sizeof(uint16_t) * (size_t)cap * 2);
  int ap, bp, adp, bdp;
  char aip[64], bip[64];
  int ep = epoll_create1(0);
  while (fscanf(f, "%d %63s %d %d %63s %d", &ap, aip, &adp, &bp, bip, &bdp) == 6) {
    if (calls == cap) {
      cap *= 2;
      fds = realloc(fds, sizeof(int) * (size_t)cap * 2);
      dests = realloc(dests, sizeof(struct sockaddr_in) * (size_t)cap * 2);
      ports = realloc(ports, sizeof(uint16_t) * (size_t)cap * 2);
    }
    int lp[2] = {ap, bp}, dp[2] = {adp, bdp};
    char *dip[2] = {aip, bip};
    for (int k = 0; k < 2; k++) {
      int i = 2 * calls + k;
      fds[i] = open_sock(lp[k], &ports[i]);
      if (fds[i] < 0) {
        fprintf(stderr, "loadgen: cannot bind port %d: %s\n", lp[k], strerror(errno));
        return 1;
      }
      memset(&dests[i], 0, sizeof dests[i]);
      dests[i].sin_family = AF_INET;
      dests[i].sin_port = htons((uint16_t)dp[k]);
      inet_pton(AF_INET, dip[k], &dests[i].sin_addr);
      struct epoll_event ev = {.events = EPOLLIN};
      ev.data.u32 = (uint32_t)i;
      epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    calls++;
  }
  fclose(f);
  if (calls == 0) {
    fprintf(stderr, "loadgen: no calls in config\n");
    return 2;
  }
  nsock = 2 * calls;
  per_stream = (uint32_t)(duration * pps);
  st = calloc((size_t)nsock, sizeof *st);
  for (int i = 0; i < nsock; i++) st[i].seen = calloc(per_stream / 8 + 1, 1);
  hist = calloc(HIST_US, sizeof *hist);
  // Sleeps end on time instead of up to 50 µs late (the default timer slack).
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

  pthread_t rt;
  pthread_create(&rt, NULL, receiver, &ep);

  unsigned char pkt[PKT];
  memset(pkt, 0xff, sizeof pkt); /* µ-law silence */
  pkt[0] = 0x80;
  pkt[1] = 0; /* PT 0 PCMU */
  uint32_t prime = PRIME;
  for (int round = 0; round < 3; round++) {
    memcpy(pkt + HDR, &prime, 4);
    for (int i = 0; i < nsock; i++)
      sendto(fds[i], pkt, PKT, 0, (struct sockaddr *)&dests[i], sizeof dests[i]);
    usleep(100000);
  }
  usleep(200000);

  uint64_t period = 1000000000ull / (uint64_t)pps;
  uint64_t total = (uint64_t)per_stream * (uint64_t)nsock;
  uint64_t t0 = now_ns(CLOCK_MONOTONIC) + 1000000;
  uint64_t sent = 0, send_errors = 0, late_1ms = 0, late_max = 0;
  uint32_t magic = MAGIC;
  memcpy(pkt + HDR, &magic, 4);
  for (uint64_t g = 0; g < total; g++) {
    uint64_t due = t0 + (g * period) / (uint64_t)nsock;
    uint64_t now = now_ns(CLOCK_MONOTONIC);
    // Packets due within EARLY_NS go out now: one sleep per small batch instead of per packet
    // (a wake-up costs more than sending a packet), at most 0.1 ms early on a 20 ms period.
    if (now + EARLY_NS < due) {
      sleep_until(due - EARLY_NS);
      now = now_ns(CLOCK_MONOTONIC);
    }
    uint64_t late = now > due ? now - due : 0;
    if (late > late_max) late_max = late;
    if (late > 1000000) late_1ms++;
    uint32_t s = (uint32_t)(g % (uint64_t)nsock), seq = (uint32_t)(g / (uint64_t)nsock);
    uint16_t seq16 = htons((uint16_t)seq);
    uint32_t ts = htonl(seq * 160u), ssrc = htonl(0x10000u + s);
    memcpy(pkt + 2, &seq16, 2);
    memcpy(pkt + 4, &ts, 4);
    memcpy(pkt + 8, &ssrc, 4);
    memcpy(pkt + HDR + 4, &s, 4);
    memcpy(pkt + HDR + 8, &seq, 4);
    uint64_t stamp = now_ns(CLOCK_REALTIME);
    memcpy(pkt + HDR + 12, &stamp, 8);
    if (sendto(fds[s], pkt, PKT, 0, (struct sockaddr *)&dests[s], sizeof dests[s]) == PKT)
      sent++;
    else
      send_errors++;
  }
  uint64_t send_wall = now_ns(CLOCK_MONOTONIC) - t0;
  usleep((useconds_t)drain_ms * 1000);
  receiving = 0;
  pthread_join(rt, NULL);

  uint64_t lost = sent > received ? sent - received : 0;
  printf("{\"calls\":%d,\"streams\":%d,\"packetsPerStream\":%u,\"pps\":%d,\"sendWallMs\":%.1f,"
         "\"sent\":%llu,\"sendErrors\":%llu,\"received\":%llu,\"lost\":%llu,\"lossPct\":%.4f,"
         "\"duplicates\":%llu,\"reordered\":%llu,\"misrouted\":%llu,\"invalid\":%llu,"
         "\"primesReceived\":%llu,\"latencyUs\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,"
         "\"p999\":%llu,\"max\":%llu,\"beyond1s\":%llu},\"senderLateMaxUs\":%llu,"
         "\"senderLateOver1ms\":%llu,\"ports\":[",
         calls, nsock, per_stream, pps, (double)send_wall / 1e6, (unsigned long long)sent,
         (unsigned long long)send_errors, (unsigned long long)received, (unsigned long long)lost,
         sent ? 100.0 * (double)lost / (double)sent : 0.0, (unsigned long long)duplicates,
         (unsigned long long)reordered, (unsigned long long)misrouted, (unsigned long long)invalid,
         (unsigned long long)primes, (unsigned long long)percentile_us(0.5),
         (unsigned long long)percentile_us(0.9), (unsigned long long)percentile_us(0.99),
         (unsigned long long)percentile_us(0.999), (unsigned long long)(lat_max_ns / 1000),
         (unsigned long long)beyond_hist, (unsigned long long)(late_max / 1000),
         (unsigned long long)late_1ms);
  for (int i = 0; i < nsock; i++) printf("%s%u", i ? "," : "", ports[i]);
  printf("]}\n");
  return 0;
}
