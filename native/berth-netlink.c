// berth-netlink: the long-lived helper berthd gives namespace, link, address and route changes to,
// so that starting or removing a sandbox spawns no process (see docs/performance.md for why a
// helper and not an npm netlink binding: Node cannot setns(2), unshare(2) or mount(2)).
//
// Protocol (stdin -> stdout), one request per line, one reply per request, in order:
//   request: ID <TAB> OP <TAB> OP ...        each OP is space-separated words
//   reply:   ID ok                            every OP was done
//            ID err K MESSAGE                 OP number K (from 0) failed; the ones before it were done
// A request's ops run in berthd's network namespace unless an `ns PATH` op switched to another
// one; every request ends back in berthd's namespace. berthd checks every value before it is
// written (plan/link-plan.ts); this program still refuses words it cannot parse.
//
// OPs:
//   nsadd PATH                   new network namespace, bind-mounted on PATH (created if missing)
//   nsdel PATH                   unmount PATH (detached) and remove the file; missing is fine
//   ns PATH | ns -               the following ops act in the namespace at PATH (- : berthd's own)
//   up DEV                       set DEV up
//   veth NAME MTU MAC PEER PEERMTU   veth pair in the current namespace, PEER put in berthd's
//   addr IP LEN DEV              add IPv4 address IP/LEN on DEV
//   defroute GW DEV              default route via GW on DEV
//   master DEV BRIDGE            put DEV into BRIDGE and set it up
//   hairpin DEV                  hairpin mode on the bridge port DEV
//   del DEV                      delete link DEV
//   fdbset MAC DEV DST           static FDB entry on the VXLAN device DEV: MAC is behind the VTEP DST
//                                (`bridge fdb replace MAC dev DEV dst DST self permanent`)
//   fdbdel MAC DEV DST           removes it (`bridge fdb del ... self`); one already gone is done
//   neighset IP MAC DEV          permanent neighbour entry (`ip neigh replace IP lladdr MAC dev DEV
//                                nud permanent`)
//   neighdel IP DEV              removes IP's entry on DEV; one already gone is done (as `ip neigh
//                                flush to IP`; unlike that flush, whatever its state: on berth's
//                                VXLAN devices, with no address and no learning, all are permanent)
//   listeners                    the reply's words after "ok": PROTO IP PORT for every listening TCP
//                                and bound UDP socket of berthd's namespace (sock_diag: only the
//                                listening table is walked, where /proc/net/tcp walks every
//                                connection of the machine: 260 ms on a busy host here)
//   spawn LOG ENV... - ARGV...   starts ARGV (ARGV[0] an absolute path) in a session of its own with
//                                exactly ENV (KEY=VALUE words), stdin /dev/null, stdout and stderr
//                                appended to LOG; each word is "x" + the value in hex (values may
//                                hold any byte but NUL). Replies "ok PID" once the program is
//                                exec'd, or the exec's error. Must be the request's only op.
//                                Why here: berthd's own fork copies the page tables of a ~150 MB
//                                process (1-2 ms quiet, 4-12 ms on a busy host); this one's are tiny.
// Events (not replies): "0 exit PID CODE" when a program spawned here ends; CODE as sh gives it
// (the exit status, or 128 + the signal). Printed after the spawn's own reply, never before.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int host_ns = -1;  // berthd's network namespace
static int host_nl = -1;  // rtnetlink socket in it
static int cur_nl = -1;   // socket of the namespace the current ops act in
static unsigned seq_no;
static char errbuf[512];
static char *out;         // words for the reply after "ok" (listeners)
static size_t out_len, out_cap;

static void out_add(const char *w) {
  size_t n = strlen(w);
  if (out_len + n + 2 > out_cap) {
    out_cap = (out_len + n + 2) * 2;
    out = realloc(out, out_cap);
    if (!out) abort();
  }
  out[out_len++] = ' ';
  memcpy(out + out_len, w, n);
  out_len += n;
  out[out_len] = 0;
}

struct msg {
  struct nlmsghdr n;
  char buf[2048];
};

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  return fd;
}

static struct rtattr *tail(struct nlmsghdr *n) { return (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len)); }

static void attr(struct nlmsghdr *n, int type, const void *data, int len) {
  struct rtattr *a = tail(n);
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(a->rta_len);
}
static void attr_u32(struct nlmsghdr *n, int type, unsigned v) { attr(n, type, &v, 4); }
static void attr_str(struct nlmsghdr *n, int type, const char *s) { attr(n, type, s, strlen(s) + 1); }
static struct rtattr *nest(struct nlmsghdr *n, int type) {
  struct rtattr *a = tail(n);
  attr(n, type, NULL, 0);
  return a;
}
static void nest_end(struct nlmsghdr *n, struct rtattr *a) { a->rta_len = (char *)n + n->nlmsg_len - (char *)a; }

/** Sends one request and waits for its acknowledgement: 0 or a negative errno (message in errbuf). */
static int talk(int fd, struct nlmsghdr *n) {
  n->nlmsg_seq = ++seq_no;
  n->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) return -errno;
  char buf[16384];
  for (;;) {
    ssize_t len = recv(fd, buf, sizeof buf, 0);
    if (len < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq_no || h->nlmsg_type != NLMSG_ERROR) continue;
      struct nlmsgerr *e = NLMSG_DATA(h);
      if (e->error == 0) return 0;
      errbuf[0] = 0;
      // Extended ack: the kernel's own message, when it gives one.
      if (h->nlmsg_flags & NLM_F_ACK_TLVS) {
        size_t off = NLMSG_HDRLEN + sizeof *e;
        if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - NLMSG_HDRLEN;
        struct rtattr *a = (struct rtattr *)((char *)h + off);
        int rest = (int)h->nlmsg_len - (int)off;
        for (; RTA_OK(a, rest); a = RTA_NEXT(a, rest)) {
          if (a->rta_type == NLMSGERR_ATTR_MSG) snprintf(errbuf, sizeof errbuf, "%s", (char *)RTA_DATA(a));
        }
      }
      return e->error;
    }
  }
}

static int ifindex(const char *name) {
  unsigned i = if_nametoindex(name);
  if (!i) {
    snprintf(errbuf, sizeof errbuf, "no interface %s", name);
    return -ENODEV;
  }
  return (int)i;
}

static void link_msg(struct msg *m, int type, int flags, int index) {
  memset(m, 0, sizeof *m);
  m->n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  m->n.nlmsg_type = type;
  m->n.nlmsg_flags = flags;
  struct ifinfomsg *ifi = NLMSG_DATA(&m->n);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
}

static int op_up(const char *dev) {
  int i = ifindex(dev);
  if (i < 0) return i;
  struct msg m;
  link_msg(&m, RTM_NEWLINK, 0, i);
  struct ifinfomsg *ifi = NLMSG_DATA(&m.n);
  ifi->ifi_change = IFF_UP;
  ifi->ifi_flags = IFF_UP;
  return talk(cur_nl, &m.n);
}

static int parse_mac(const char *s, unsigned char out[6]) {
  unsigned v[6];
  if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -EINVAL;
  for (int i = 0; i < 6; i++) out[i] = (unsigned char)v[i];
  return 0;
}

static int op_veth(const char *name, const char *mtu, const char *mac, const char *peer, const char *peermtu) {
  unsigned char hw[6];
  if (parse_mac(mac, hw) < 0) return -EINVAL;
  struct msg m;
  link_msg(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
  attr_str(&m.n, IFLA_IFNAME, name);
  attr_u32(&m.n, IFLA_MTU, (unsigned)atoi(mtu));
  attr(&m.n, IFLA_ADDRESS, hw, 6);
  struct rtattr *info = nest(&m.n, IFLA_LINKINFO);
  attr(&m.n, IFLA_INFO_KIND, "veth", 4);
  struct rtattr *data = nest(&m.n, IFLA_INFO_DATA);
  struct rtattr *p = nest(&m.n, VETH_INFO_PEER);
  // The peer's attributes follow an ifinfomsg of its own.
  m.n.nlmsg_len += NLMSG_ALIGN(sizeof(struct ifinfomsg));
  attr_str(&m.n, IFLA_IFNAME, peer);
  attr_u32(&m.n, IFLA_MTU, (unsigned)atoi(peermtu));
  attr_u32(&m.n, IFLA_NET_NS_FD, (unsigned)host_ns);
  nest_end(&m.n, p);
  nest_end(&m.n, data);
  nest_end(&m.n, info);
  return talk(cur_nl, &m.n);
}

static int op_addr(const char *ip, const char *len, const char *dev) {
  struct in_addr a;
  if (inet_pton(AF_INET, ip, &a) != 1) return -EINVAL;
  int i = ifindex(dev);
  if (i < 0) return i;
  struct msg m;
  memset(&m, 0, sizeof m);
  m.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
  m.n.nlmsg_type = RTM_NEWADDR;
  m.n.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  struct ifaddrmsg *ifa = NLMSG_DATA(&m.n);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char)atoi(len);
  ifa->ifa_index = (unsigned)i;
  attr(&m.n, IFA_LOCAL, &a, 4);
  attr(&m.n, IFA_ADDRESS, &a, 4);
  return talk(cur_nl, &m.n);
}

static int op_defroute(const char *gw, const char *dev) {
  struct in_addr a;
  if (inet_pton(AF_INET, gw, &a) != 1) return -EINVAL;
  int i = ifindex(dev);
  if (i < 0) return i;
  struct msg m;
  memset(&m, 0, sizeof m);
  m.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
  m.n.nlmsg_type = RTM_NEWROUTE;
  m.n.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  struct rtmsg *r = NLMSG_DATA(&m.n);
  r->rtm_family = AF_INET;
  r->rtm_table = RT_TABLE_MAIN;
  r->rtm_protocol = RTPROT_BOOT;
  r->rtm_scope = RT_SCOPE_UNIVERSE;
  r->rtm_type = RTN_UNICAST;
  attr(&m.n, RTA_GATEWAY, &a, 4);
  attr_u32(&m.n, RTA_OIF, (unsigned)i);
  return talk(cur_nl, &m.n);
}

static int op_master(const char *dev, const char *bridge) {
  int i = ifindex(dev);
  if (i < 0) return i;
  int b = ifindex(bridge);
  if (b < 0) return b;
  struct msg m;
  link_msg(&m, RTM_NEWLINK, 0, i);
  struct ifinfomsg *ifi = NLMSG_DATA(&m.n);
  ifi->ifi_change = IFF_UP;
  ifi->ifi_flags = IFF_UP;
  attr_u32(&m.n, IFLA_MASTER, (unsigned)b);
  return talk(cur_nl, &m.n);
}

static int op_hairpin(const char *dev) {
  int i = ifindex(dev);
  if (i < 0) return i;
  struct msg m;
  link_msg(&m, RTM_NEWLINK, 0, i);
  struct rtattr *info = nest(&m.n, IFLA_LINKINFO);
  attr(&m.n, IFLA_INFO_SLAVE_KIND, "bridge", 6);
  struct rtattr *data = nest(&m.n, IFLA_INFO_SLAVE_DATA);
  unsigned char on = 1;
  attr(&m.n, IFLA_BRPORT_MODE, &on, 1);
  nest_end(&m.n, data);
  nest_end(&m.n, info);
  return talk(cur_nl, &m.n);
}

static int op_del(const char *dev) {
  int i = ifindex(dev);
  if (i < 0) return i;
  struct msg m;
  link_msg(&m, RTM_DELLINK, 0, i);
  return talk(cur_nl, &m.n);
}

/** An RTM_NEWNEIGH/RTM_DELNEIGH for DEV: family AF_BRIDGE (FDB) or AF_INET (neighbour table). */
static int neigh_msg(struct msg *m, int type, int flags, int family, const char *devname, unsigned short state, unsigned char ntf) {
  int i = ifindex(devname);
  if (i < 0) return i;
  memset(m, 0, sizeof *m);
  m->n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
  m->n.nlmsg_type = type;
  m->n.nlmsg_flags = flags;
  struct ndmsg *nd = NLMSG_DATA(&m->n);
  nd->ndm_family = family;
  nd->ndm_ifindex = i;
  nd->ndm_state = state;
  nd->ndm_flags = ntf;
  return 0;
}

/** A removal that finds nothing to remove (entry or device already gone) has done its job. */
static int gone_is_done(int e) { return e == -ENOENT || e == -ENODEV ? 0 : e; }

static int op_fdb(int add, const char *mac, const char *devname, const char *dst) {
  unsigned char hw[6];
  struct in_addr a;
  if (parse_mac(mac, hw) < 0 || inet_pton(AF_INET, dst, &a) != 1) return -EINVAL;
  struct msg m;
  // As bridge(8) sends them: NOARP, plus PERMANENT for an addition; on the device itself (self).
  int e = neigh_msg(&m, add ? RTM_NEWNEIGH : RTM_DELNEIGH, add ? NLM_F_CREATE | NLM_F_REPLACE : 0, AF_BRIDGE, devname,
                    add ? NUD_NOARP | NUD_PERMANENT : NUD_NOARP, NTF_SELF);
  if (e < 0) return add ? e : gone_is_done(e);
  attr(&m.n, NDA_LLADDR, hw, 6);
  attr(&m.n, NDA_DST, &a, 4);
  e = talk(cur_nl, &m.n);
  return add ? e : gone_is_done(e);
}

static int op_neighset(const char *ip, const char *mac, const char *devname) {
  unsigned char hw[6];
  struct in_addr a;
  if (parse_mac(mac, hw) < 0 || inet_pton(AF_INET, ip, &a) != 1) return -EINVAL;
  struct msg m;
  int e = neigh_msg(&m, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, AF_INET, devname, NUD_PERMANENT, 0);
  if (e < 0) return e;
  attr(&m.n, NDA_DST, &a, 4);
  attr(&m.n, NDA_LLADDR, hw, 6);
  return talk(cur_nl, &m.n);
}

static int op_neighdel(const char *ip, const char *devname) {
  struct in_addr a;
  if (inet_pton(AF_INET, ip, &a) != 1) return -EINVAL;
  struct msg m;
  int e = neigh_msg(&m, RTM_DELNEIGH, 0, AF_INET, devname, 0, 0);
  if (e < 0) return gone_is_done(e);
  attr(&m.n, NDA_DST, &a, 4);
  return gone_is_done(talk(cur_nl, &m.n));
}

/** One sock_diag dump (family, protocol, states); appends "PROTO IP PORT" per socket, once each. */
static int diag_dump(int fd, int family, int protocol, unsigned states, const char *proto) {
  struct {
    struct nlmsghdr n;
    struct inet_diag_req_v2 r;
  } req;
  memset(&req, 0, sizeof req);
  req.n.nlmsg_len = sizeof req;
  req.n.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.n.nlmsg_seq = ++seq_no;
  req.r.sdiag_family = family;
  req.r.sdiag_protocol = protocol;
  req.r.idiag_states = states;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&sa, sizeof sa) < 0) return -errno;
  static char buf[65536];
  char last[80] = "";
  for (;;) {
    ssize_t len = recv(fd, buf, sizeof buf, 0);
    if (len < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq_no) continue;
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        // A family the kernel has no diag module for (no IPv6) has no sockets to report.
        return e->error == -ENOENT ? 0 : e->error;
      }
      struct inet_diag_msg *m = NLMSG_DATA(h);
      unsigned char *a = (unsigned char *)m->id.idiag_src;
      char ip[INET_ADDRSTRLEN];
      if (family == AF_INET) {
        inet_ntop(AF_INET, a, ip, sizeof ip);
      } else {
        static const unsigned char zero[16], mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        // As /proc/net/*6 is read: the any-address counts as 0.0.0.0, v4-mapped as its v4 address,
        // any other IPv6 address is no IPv4 listener.
        if (memcmp(a, zero, 16) == 0) snprintf(ip, sizeof ip, "0.0.0.0");
        else if (memcmp(a, mapped, 12) == 0) inet_ntop(AF_INET, a + 12, ip, sizeof ip);
        else continue;
      }
      char word[80];
      snprintf(word, sizeof word, "%s %s %u", proto, ip, ntohs(m->id.idiag_sport));
      if (strcmp(word, last) == 0) continue;
      snprintf(last, sizeof last, "%s", word);
      out_add(word);
    }
  }
}

static int op_listeners(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return -errno;
  int e = 0;
  const unsigned listen = 1u << 10; // TCP_LISTEN
  if (!e) e = diag_dump(fd, AF_INET, IPPROTO_TCP, listen, "tcp");
  if (!e) e = diag_dump(fd, AF_INET6, IPPROTO_TCP, listen, "tcp");
  if (!e) e = diag_dump(fd, AF_INET, IPPROTO_UDP, ~0u, "udp");
  if (!e) e = diag_dump(fd, AF_INET6, IPPROTO_UDP, ~0u, "udp");
  close(fd);
  return e;
}

static int back_home(void) {
  if (cur_nl != host_nl) close(cur_nl);
  cur_nl = host_nl;
  if (setns(host_ns, CLONE_NEWNET) < 0) return -errno;
  return 0;
}

static int op_ns(const char *path) {
  int e = back_home();
  if (e < 0) return e;
  if (strcmp(path, "-") == 0) return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if (setns(fd, CLONE_NEWNET) < 0) {
    e = -errno;
    close(fd);
    return e;
  }
  close(fd);
  int s = nl_open();
  if (s < 0) {
    back_home();
    return s;
  }
  cur_nl = s;
  return 0;
}

static int op_nsadd(const char *path) {
  int e = back_home();
  if (e < 0) return e;
  int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
  if (fd < 0) return -errno;
  close(fd);
  if (unshare(CLONE_NEWNET) < 0) return -errno;
  if (mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0) e = -errno;
  int back = back_home();
  if (e < 0) {
    unlink(path);
    return e;
  }
  return back;
}

static int op_nsdel(const char *path) {
  if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) return -errno;
  if (unlink(path) < 0 && errno != ENOENT) return -errno;
  return 0;
}

/* "x" + hex -> a new NUL-terminated string; NULL when the word is not that. */
static char *unhex(const char *w) {
  if (w[0] != 'x') return NULL;
  size_t n = strlen(w + 1);
  if (n % 2) return NULL;
  char *text = malloc(n / 2 + 1);
  if (!text) return NULL;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(w + 1 + 2 * i, "%2x", &v) != 1 || v == 0) {
      free(text);
      return NULL;
    }
    text[i] = (char)v;
  }
  text[n / 2] = 0;
  return text;
}

static void free_words(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

static int op_spawn(char *words) {
  size_t cap = 16, n = 0;
  char **all = calloc(cap, sizeof *all);
  int dash = -1;
  if (!all) return -ENOMEM;
  for (char *save = NULL, *t = strtok_r(words, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
    if (n + 2 > cap) {
      char **more = realloc(all, (cap *= 2) * sizeof *all);
      if (!more) {
        free_words(all);
        return -ENOMEM;
      }
      all = more;
    }
    if (strcmp(t, "-") == 0 && dash < 0) {
      dash = (int)n;
      all[n++] = NULL;
      continue;
    }
    char *v = unhex(t);
    if (!v) {
      free_words(all);
      snprintf(errbuf, sizeof errbuf, "a word is not x+hex");
      return -EINVAL;
    }
    all[n++] = v;
    all[n] = NULL;
  }
  // all: LOG ENV... NULL ARGV... NULL
  if (dash < 1 || (size_t)dash + 1 >= n || all[dash + 1][0] != '/') {
    for (size_t i = 0; i < n; i++) free(all[i]);
    free(all);
    snprintf(errbuf, sizeof errbuf, "usage: spawn LOG ENV... - /PROGRAM ARG...");
    return -EINVAL;
  }
  char *log = all[0];
  char **envp = all + 1;
  char **argv = all + dash + 1;
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) {
    int e = -errno;
    for (size_t i = 0; i < n; i++) free(all[i]);
    free(all);
    return e;
  }
  pid_t pid = fork();
  if (pid == 0) {
    // The child: default signals, a session of its own (as Node's detached), its files, exec.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    setsid();
    int in = open("/dev/null", O_RDONLY);
    int lg = open(log, O_WRONLY | O_APPEND | O_CREAT, 0666);
    if (in >= 0 && lg >= 0 && dup2(in, 0) == 0 && dup2(lg, 1) == 1 && dup2(lg, 2) == 2) {
      if (in > 2) close(in);
      if (lg > 2) close(lg);
      execve(argv[0], argv, envp);
    }
    int e = errno;
    if (write(report[1], &e, sizeof e) < 0) _exit(127);
    _exit(127);
  }
  int e = pid < 0 ? errno : 0;
  close(report[1]);
  if (pid > 0) {
    // Nothing to read means exec succeeded (the pipe closed with it); else the child's errno.
    ssize_t got;
    do got = read(report[0], &e, sizeof e);
    while (got < 0 && errno == EINTR);
    if (got <= 0) e = 0;
    else waitpid(pid, NULL, 0);  // reaped here, so no exit event is printed for it
  }
  close(report[0]);
  if (e) snprintf(errbuf, sizeof errbuf, "%s", argv[0]);
  for (size_t i = 0; i < n; i++) free(all[i]);
  free(all);
  if (e) return -e;
  char word[16];
  snprintf(word, sizeof word, "%d", (int)pid);
  out_add(word);
  return 0;
}

/** Prints an exit event for every spawned program that has ended. */
static void reap(void) {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
    printf("0 exit %d %d\n", (int)pid, code);
  }
}

static int run_op(char *op) {
  char *w[8];
  int n = 0;
  for (char *save = NULL, *t = strtok_r(op, " ", &save); t && n < 8; t = strtok_r(NULL, " ", &save)) w[n++] = t;
  if (n == 0) return -EINVAL;
#define IS(name, argc) (strcmp(w[0], name) == 0 && n == (argc) + 1)
  if (IS("nsadd", 1)) return op_nsadd(w[1]);
  if (IS("nsdel", 1)) return op_nsdel(w[1]);
  if (IS("ns", 1)) return op_ns(w[1]);
  if (IS("up", 1)) return op_up(w[1]);
  if (IS("veth", 5)) return op_veth(w[1], w[2], w[3], w[4], w[5]);
  if (IS("addr", 3)) return op_addr(w[1], w[2], w[3]);
  if (IS("defroute", 2)) return op_defroute(w[1], w[2]);
  if (IS("master", 2)) return op_master(w[1], w[2]);
  if (IS("hairpin", 1)) return op_hairpin(w[1]);
  if (IS("del", 1)) return op_del(w[1]);
  if (IS("fdbset", 3)) return op_fdb(1, w[1], w[2], w[3]);
  if (IS("fdbdel", 3)) return op_fdb(0, w[1], w[2], w[3]);
  if (IS("neighset", 3)) return op_neighset(w[1], w[2], w[3]);
  if (IS("neighdel", 2)) return op_neighdel(w[1], w[2]);
  if (IS("listeners", 0)) return op_listeners();
#undef IS
  snprintf(errbuf, sizeof errbuf, "unknown op");
  return -EINVAL;
}

/** One request line: its ops in order, then one reply. */
static void handle_line(char *line) {
  char *save = NULL;
  char *id = strtok_r(line, "\t", &save);
  if (!id) return;
  int k = 0, e = 0;
  char what[64] = "";
  out_len = 0;
  if (out) out[0] = 0;
  for (char *op = strtok_r(NULL, "\t", &save); op; op = strtok_r(NULL, "\t", &save), k++) {
    int spawn = strncmp(op, "spawn ", 6) == 0;
    snprintf(what, sizeof what, "%s", spawn ? "spawn" : op);  // not its hex words
    errbuf[0] = 0;
    e = spawn ? op_spawn(op + 6) : run_op(op);
    if (e < 0) break;
  }
  int home = back_home();
  if (e < 0) {
    // errbuf holds the kernel's message when it gave one; strerror otherwise.
    printf("%s err %d %s: %s%s%s\n", id, k, what, strerror(-e), errbuf[0] ? ": " : "", errbuf);
  } else if (home < 0) {
    printf("%s err %d cannot return to berthd's namespace: %s\n", id, k, strerror(-home));
  } else {
    printf("%s ok%s\n", id, out_len ? out : "");
  }
}

int main(void) {
  host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host_ns < 0) {
    perror("berth-netlink: /proc/self/ns/net");
    return 1;
  }
  host_nl = nl_open();
  if (host_nl < 0) {
    fprintf(stderr, "berth-netlink: netlink socket: %s\n", strerror(-host_nl));
    return 1;
  }
  cur_nl = host_nl;
  setvbuf(stdout, NULL, _IOLBF, 0);
  // SIGCHLD is taken through a signalfd, read in the same loop as the requests, so an exit event
  // is never printed in the middle of a reply nor before the reply of the spawn it belongs to.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    perror("berth-netlink: signalfd");
    return 1;
  }
  size_t cap = 4096, have = 0;
  char *buf = malloc(cap);
  if (!buf) return 1;
  for (;;) {
    struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      perror("berth-netlink: poll");
      return 1;
    }
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
      }
      reap();
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (have + 4096 > cap) {
      char *more = realloc(buf, cap *= 2);
      if (!more) return 1;
      buf = more;
    }
    ssize_t got = read(0, buf + have, cap - have);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // berthd went away
    have += (size_t)got;
    char *start = buf, *nl;
    while ((nl = memchr(start, '\n', have - (size_t)(start - buf)))) {
      *nl = 0;
      handle_line(start);
      start = nl + 1;
    }
    have -= (size_t)(start - buf);
    memmove(buf, start, have);
  }
  return 0;
}
