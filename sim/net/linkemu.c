/* linkemu.c: the packet-level radio link emulator. The model, the counting
 * semantics and what is left on each exit path are in linkemu.h.
 *
 * Data structures: a device table indexed by the low 16 bits of the
 * address (198.18.0.0/16 is the whole device range); per device and
 * direction a FIFO of packets in flight (waiting, on the air or in the
 * delay); one binary heap of all packets by release time (ties: arrival
 * order), whose head arms the timerfd; a chained hash of connections.
 * Everything is under one mutex, held by the emulator thread while it
 * handles one batch of epoll events.
 */
#include "linkemu.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "nat.h"

#define NETNS_DIR   "/run/netns"
#define DEV_IFNAME  "radio0"
#define DEFAULT_MTU 1500
#define LATE_RING   8192
#define TUN_TXQLEN  20000
#define READ_BATCH  256  /* packets per TUN per epoll round, so releases are not starved */

struct pinfo {
	uint32_t dev_addr;
	uint16_t dev_port, srv_port;
	uint8_t proto, flags; /* TCP flags, 0 otherwise */
	uint8_t carries;      /* payload, SYN or FIN */
	uint16_t len;         /* IPv4 total length */
};

struct pkt {
	TAILQ_ENTRY(pkt) link;
	struct dir *dir;
	uint64_t end, release, seq;
	struct pinfo pi;
	uint8_t lost;
	uint8_t nat;          /* dropped by the NAT behind the air (uplink) */
	unsigned char data[];
};
TAILQ_HEAD(pktq, pkt);

struct dir {
	struct pktq q;
	uint64_t busy_until;  /* end of the last serialisation */
	uint64_t rng;
	double kbps, loss;
	int idx;              /* enum linkemu_dir */
	struct device *dev;
};

struct device {
	uint32_t addr;
	struct linkemu_params p;
	uint64_t delay_ns;
	uint64_t nat_ns;      /* NAT idle timeout; 0: none */
	uint64_t listen_ns, asleep_ns, listen_phase; /* a listening device; listen_ns 0: not one */
	uint64_t air_last;    /* the end of its last packet on the air, either way; 0: none yet */
	uint64_t listen_waits; /* downlink packets held for a listen occasion */
	struct dir dir[2];
	struct linkemu_counts counts;
	struct linkemu_burst *ring; /* LINKEMU_BURSTS */
	size_t ring_head, ring_len;
	uint64_t overwritten;
};

struct conn {
	struct conn *next;
	uint32_t addr;
	uint16_t dev_port, srv_port;
	uint8_t proto;
	struct linkemu_counts c;
	struct nat_flow nat;
};

struct linkemu {
	pthread_mutex_t lock;
	pthread_t thread;
	int thread_started;
	int root_ns, dev_ns;        /* namespace fds */
	int tun_dev, tun_srv;       /* radio0 (device ns), dormant<pid> (root ns) */
	int ctl_dev, ctl_srv;       /* AF_INET dgram sockets for ioctls, one per ns */
	int nl_dev;                 /* rtnetlink in the device ns */
	int ep, tfd, stopfd;
	char nsname[32], nspath[64], srv_ifname[IFNAMSIZ];
	int mounted;
	int realtime;               /* the thread got SCHED_FIFO */
	int mtu;                    /* radio0's and the route's: largest device mtu */
	size_t ndev;
	struct device **devs;       /* 65536, by addr & 0xffff */
	struct conn **buckets;
	size_t nbuckets, nconns;
	struct pkt **heap;
	size_t nheap, capheap;
	uint64_t seq;
	uint64_t armed;             /* the timerfd's expiry, 0: disarmed */
	struct linkemu_stats st;
	uint32_t late[LATE_RING];
	size_t late_n;
};

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void errf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) /* xorshift64*, [0, 1) */
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return (double)((x * 0x2545f4914f6cdd1du) >> 11) * 0x1.0p-53;
}

static int has_caps(char *err, size_t errlen)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0) {
		errf(err, errlen, "links need CAP_NET_ADMIN: capget: %s", strerror(errno));
		return 0;
	}
	int net = (d[CAP_NET_ADMIN / 32].effective >> (CAP_NET_ADMIN % 32)) & 1;
	int sys = (d[CAP_SYS_ADMIN / 32].effective >> (CAP_SYS_ADMIN % 32)) & 1;
	if (net && sys)
		return 1;
	errf(err, errlen, "links need CAP_NET_ADMIN and CAP_SYS_ADMIN (network namespace, TUN devices, routes): "
	     "this process lacks %s; run as root or without links",
	     !net && !sys ? "both" : !net ? "CAP_NET_ADMIN" : "CAP_SYS_ADMIN");
	return 0;
}

/* ---- interfaces and routes ---- */

static int if_set(int ctl, const char *name, int up, int mtu, uint32_t addr, char *err, size_t errlen)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	if (up && strcmp(name, "lo") != 0) {
		/* A TUN drops what its reader has not taken once txqueuelen (500)
		 * packets wait: invisible to our counts, and no radio does that.
		 * The emulator's own queues are the only limit. */
		ifr.ifr_qlen = TUN_TXQLEN;
		if (ioctl(ctl, SIOCSIFTXQLEN, &ifr) != 0) {
			errf(err, errlen, "links: set txqueuelen on %s: %s", name, strerror(errno));
			return -1;
		}
	}
	if (mtu > 0) {
		ifr.ifr_mtu = mtu;
		if (ioctl(ctl, SIOCSIFMTU, &ifr) != 0) {
			errf(err, errlen, "links: set MTU %d on %s: %s", mtu, name, strerror(errno));
			return -1;
		}
	}
	if (addr) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
		memset(&ifr.ifr_addr, 0, sizeof ifr.ifr_addr);
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(addr);
		if (ioctl(ctl, SIOCSIFADDR, &ifr) != 0) {
			errf(err, errlen, "links: set address on %s: %s", name, strerror(errno));
			return -1;
		}
		sin->sin_addr.s_addr = htonl(0xffffffffu);
		if (ioctl(ctl, SIOCSIFNETMASK, &ifr) != 0) {
			errf(err, errlen, "links: set netmask on %s: %s", name, strerror(errno));
			return -1;
		}
	}
	if (up) {
		if (ioctl(ctl, SIOCGIFFLAGS, &ifr) != 0) {
			errf(err, errlen, "links: get flags of %s: %s", name, strerror(errno));
			return -1;
		}
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(ctl, SIOCSIFFLAGS, &ifr) != 0) {
			errf(err, errlen, "links: bring %s up: %s", name, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void nl_attr(struct nlmsghdr *n, size_t cap, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
	if (NLMSG_ALIGN(n->nlmsg_len) + RTA_SPACE(len) > cap)
		abort(); /* our own fixed-size messages: a bug, not an input */
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	n->nlmsg_len = (uint32_t)(NLMSG_ALIGN(n->nlmsg_len) + RTA_SPACE(len));
}

/* ip route replace (excl: add) [local] dst/plen dev oif [mtu m], in the
 * namespace of nl. excl: -1 with errno EEXIST when such a route exists. */
static int nl_route(int nl, int local, int excl, uint32_t dst, int plen, int oif, int mtu, char *err, size_t errlen)
{
	struct {
		struct nlmsghdr n;
		struct rtmsg r;
		char buf[128];
	} req;
	memset(&req, 0, sizeof req);
	req.n.nlmsg_len = NLMSG_LENGTH(sizeof req.r);
	req.n.nlmsg_type = RTM_NEWROUTE;
	req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (excl ? NLM_F_EXCL : NLM_F_REPLACE);
	req.n.nlmsg_seq = 1;
	req.r.rtm_family = AF_INET;
	req.r.rtm_dst_len = (unsigned char)plen;
	req.r.rtm_table = local ? RT_TABLE_LOCAL : RT_TABLE_MAIN;
	req.r.rtm_protocol = RTPROT_STATIC;
	req.r.rtm_scope = local ? RT_SCOPE_HOST : RT_SCOPE_LINK;
	req.r.rtm_type = local ? RTN_LOCAL : RTN_UNICAST;
	uint32_t d = htonl(dst);
	nl_attr(&req.n, sizeof req, RTA_DST, &d, 4);
	uint32_t o = (uint32_t)oif;
	nl_attr(&req.n, sizeof req, RTA_OIF, &o, 4);
	if (mtu > 0) {
		char m[RTA_SPACE(4)];
		struct rtattr *a = (struct rtattr *)m;
		a->rta_type = RTAX_MTU;
		a->rta_len = RTA_LENGTH(4);
		uint32_t v = (uint32_t)mtu;
		memcpy(RTA_DATA(a), &v, 4);
		nl_attr(&req.n, sizeof req, RTA_METRICS, m, sizeof m);
	}
	char what[96];
	snprintf(what, sizeof what, "ip route %s %s%u.%u.%u.%u/%d", excl ? "add" : "replace", local ? "local " : "",
	         dst >> 24, (dst >> 16) & 255, (dst >> 8) & 255, dst & 255, plen);
	if (send(nl, &req, req.n.nlmsg_len, 0) < 0) {
		errf(err, errlen, "links: %s: netlink send: %s", what, strerror(errno));
		return -1;
	}
	char buf[4096];
	ssize_t r = recv(nl, buf, sizeof buf, 0);
	if (r < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		errf(err, errlen, "links: %s: netlink answer: %s", what, r < 0 ? strerror(errno) : "short");
		return -1;
	}
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	if (h->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *e = NLMSG_DATA(h);
		if (e->error) {
			errf(err, errlen, "links: %s: %s", what, strerror(-e->error));
			errno = -e->error;
			return -1;
		}
	}
	return 0;
}

static int tun_open(const char *name, char *err, size_t errlen)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		errf(err, errlen, "links: open /dev/net/tun: %s", strerror(errno));
		return -1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
		errf(err, errlen, "links: create TUN %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void write_file(const char *path, const char *s) /* best effort */
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, s, strlen(s)) < 0) {
			/* not needed for correctness: IPv6 noise is counted as non-IPv4 */
		}
		close(fd);
	}
}

/* ---- the namespace ---- */

static void ns_remove(const char *path)
{
	umount2(path, MNT_DETACH);
	unlink(path);
}

static int ns_create(struct linkemu *e, char *err, size_t errlen)
{
	if (mkdir(NETNS_DIR, 0755) != 0 && errno != EEXIST) {
		errf(err, errlen, "links: mkdir %s: %s", NETNS_DIR, strerror(errno));
		return -1;
	}
	/* As ip-netns does: make /run/netns a shared mount so the bind mounts
	 * are seen from other mount namespaces. Best effort. */
	if (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) != 0 && errno == EINVAL) {
		if (mount(NETNS_DIR, NETNS_DIR, "none", MS_BIND | MS_REC, NULL) == 0)
			mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL);
	}
	int fd = open(e->nspath, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0 && errno == EEXIST) {
		/* Our pid, so its creator is gone: a stale one from pid reuse. */
		ns_remove(e->nspath);
		fd = open(e->nspath, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	}
	if (fd < 0) {
		errf(err, errlen, "links: create %s: %s", e->nspath, strerror(errno));
		return -1;
	}
	close(fd);
	if (unshare(CLONE_NEWNET) != 0) {
		errf(err, errlen, "links: unshare(CLONE_NEWNET): %s", strerror(errno));
		unlink(e->nspath);
		return -1;
	}
	int rc = mount("/proc/thread-self/ns/net", e->nspath, "none", MS_BIND, NULL);
	int merr = errno;
	if (setns(e->root_ns, CLONE_NEWNET) != 0) {
		/* This thread is stranded in the new namespace: nothing sane is left. */
		fprintf(stderr, "dormant: links: setns back to the root namespace: %s\n", strerror(errno));
		abort();
	}
	if (rc != 0) {
		errf(err, errlen, "links: bind-mount the namespace on %s: %s", e->nspath, strerror(merr));
		unlink(e->nspath);
		return -1;
	}
	e->mounted = 1;
	e->dev_ns = open(e->nspath, O_RDONLY | O_CLOEXEC);
	if (e->dev_ns < 0) {
		errf(err, errlen, "links: open %s: %s", e->nspath, strerror(errno));
		return -1;
	}
	return 0;
}

/* The device side, run with the thread inside the device namespace. */
static int setup_dev_side(struct linkemu *e, char *err, size_t errlen)
{
	e->ctl_dev = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	e->nl_dev = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (e->ctl_dev < 0 || e->nl_dev < 0) {
		errf(err, errlen, "links: sockets in the device namespace: %s", strerror(errno));
		return -1;
	}
	if (if_set(e->ctl_dev, "lo", 1, 0, 0, err, errlen) != 0)
		return -1;
	if ((e->tun_dev = tun_open(DEV_IFNAME, err, errlen)) < 0)
		return -1;
	write_file("/proc/sys/net/ipv6/conf/" DEV_IFNAME "/disable_ipv6", "1");
	if (if_set(e->ctl_dev, DEV_IFNAME, 1, e->mtu, 0, err, errlen) != 0)
		return -1;
	int oif = (int)if_nametoindex(DEV_IFNAME), lo = (int)if_nametoindex("lo");
	if (nl_route(e->nl_dev, 1, 0, LINKEMU_DEVICE_NET, 16, lo, 0, err, errlen) != 0 ||
	    nl_route(e->nl_dev, 0, 0, LINKEMU_SERVER_ADDR & 0xffff0000u, 16, oif, e->mtu, err, errlen) != 0)
		return -1;
	return 0;
}

/* 198.19.0.1 and 198.18.0.0/16 are one emulator's per network namespace:
 * another one's (another dormant run with links) must not be taken over,
 * or its servers' packets would follow our route, and after we close, the
 * default route. 1 when 198.19.0.1 is already a local address here. */
static int server_addr_taken(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LINKEMU_SERVER_ADDR) };
	int taken = fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	if (fd >= 0)
		close(fd);
	return taken;
}

#define IN_USE_MSG "links: %s is already in use in this network namespace, most likely by another dormant " \
	"run with links (`ip -o addr show to 198.19.0.1`, `ip route show 198.18.0.0/16`); one at a time"

static int setup_srv_side(struct linkemu *e, char *err, size_t errlen)
{
	if (server_addr_taken()) {
		errf(err, errlen, IN_USE_MSG, "198.19.0.1");
		errno = EADDRINUSE;
		return -1;
	}
	e->ctl_srv = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (e->ctl_srv < 0 || nl < 0) {
		errf(err, errlen, "links: sockets: %s", strerror(errno));
		if (nl >= 0)
			close(nl);
		return -1;
	}
	int rc = -1;
	if ((e->tun_srv = tun_open(e->srv_ifname, err, errlen)) < 0)
		goto out;
	char p[128];
	snprintf(p, sizeof p, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", e->srv_ifname);
	write_file(p, "1");
	if (if_set(e->ctl_srv, e->srv_ifname, 1, e->mtu, LINKEMU_SERVER_ADDR, err, errlen) != 0)
		goto out;
	if (nl_route(nl, 0, 1, LINKEMU_DEVICE_NET, 16, (int)if_nametoindex(e->srv_ifname), 0, err, errlen) != 0) {
		if (errno == EEXIST) {
			errf(err, errlen, IN_USE_MSG, "the route to 198.18.0.0/16");
			errno = EADDRINUSE;
		}
		goto out;
	}
	rc = 0;
out:
	{
		int saved = errno;
		close(nl);
		errno = saved;
	}
	return rc;
}

/* ---- packets ---- */

static int parse(const unsigned char *b, size_t n, int dir, struct pinfo *pi)
{
	if (n < 20 || (b[0] >> 4) != 4)
		return -1;
	size_t ihl = (size_t)(b[0] & 15) * 4, tot = (size_t)b[2] << 8 | b[3];
	if (ihl < 20 || tot < ihl || tot > n)
		return -1;
	uint32_t src = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
	uint32_t dst = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
	memset(pi, 0, sizeof *pi);
	pi->len = (uint16_t)tot;
	pi->proto = b[9];
	pi->dev_addr = dir == LINKEMU_UP ? src : dst;
	int first_frag = ((b[6] & 0x1f) | b[7]) == 0;
	const unsigned char *l4 = b + ihl;
	size_t l4len = tot - ihl;
	uint16_t sport = 0, dport = 0;
	if (first_frag && (pi->proto == IPPROTO_TCP || pi->proto == IPPROTO_UDP) && l4len >= 8) {
		sport = (uint16_t)(l4[0] << 8 | l4[1]);
		dport = (uint16_t)(l4[2] << 8 | l4[3]);
	}
	if (first_frag && pi->proto == IPPROTO_TCP && l4len >= 20) {
		size_t doff = (size_t)(l4[12] >> 4) * 4;
		pi->flags = l4[13];
		pi->carries = l4len > doff || (pi->flags & (TH_SYN | TH_FIN));
	} else {
		pi->carries = l4len > 8;
	}
	pi->dev_port = dir == LINKEMU_UP ? sport : dport;
	pi->srv_port = dir == LINKEMU_UP ? dport : sport;
	return 0;
}

static size_t conn_hash(uint8_t proto, uint32_t a, uint16_t dp, uint16_t sp, size_t nb)
{
	uint64_t k = (uint64_t)a << 32 | (uint64_t)dp << 16 | sp;
	k ^= (uint64_t)proto << 56;
	k *= 0x9e3779b97f4a7c15u;
	return (size_t)(k >> 32) & (nb - 1);
}

static struct conn **conn_slot(struct linkemu *e, uint8_t proto, uint32_t a, uint16_t dp, uint16_t sp)
{
	struct conn **c = &e->buckets[conn_hash(proto, a, dp, sp, e->nbuckets)];
	while (*c && !((*c)->proto == proto && (*c)->addr == a && (*c)->dev_port == dp && (*c)->srv_port == sp))
		c = &(*c)->next;
	return c;
}

static void conn_grow(struct linkemu *e)
{
	size_t nb = e->nbuckets * 2;
	struct conn **b = calloc(nb, sizeof *b);
	if (!b)
		return; /* keep the longer chains */
	for (size_t i = 0; i < e->nbuckets; i++) {
		for (struct conn *c = e->buckets[i], *next; c; c = next) {
			next = c->next;
			size_t h = conn_hash(c->proto, c->addr, c->dev_port, c->srv_port, nb);
			c->next = b[h];
			b[h] = c;
		}
	}
	free(e->buckets);
	e->buckets = b;
	e->nbuckets = nb;
}

/* The connection's counts, created on first sight; NULL for packets without
 * ports or when out of memory (the device totals still count them). */
static struct conn *conn_get(struct linkemu *e, const struct pinfo *pi)
{
	if (pi->proto != IPPROTO_TCP && pi->proto != IPPROTO_UDP)
		return NULL;
	struct conn **s = conn_slot(e, pi->proto, pi->dev_addr, pi->dev_port, pi->srv_port);
	if (*s)
		return *s;
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->proto = pi->proto;
	c->addr = pi->dev_addr;
	c->dev_port = pi->dev_port;
	c->srv_port = pi->srv_port;
	*s = c;
	if (++e->nconns > 2 * e->nbuckets)
		conn_grow(e);
	return c;
}

static struct linkemu_counts *conn_counts(struct linkemu *e, const struct pinfo *pi)
{
	struct conn *c = conn_get(e, pi);
	return c ? &c->c : NULL;
}

/* The operator's NAT (nat.h) for a TCP packet of DEV: 1 if it drops it. */
static int nat_drops(struct linkemu *e, struct device *dev, int dir, const struct pinfo *pi, uint64_t now)
{
	if (!dev->nat_ns || pi->proto != IPPROTO_TCP)
		return 0;
	struct conn *c = conn_get(e, pi);
	if (!c)
		return 0;
	int syn = dir == LINKEMU_UP && (pi->flags & TH_SYN) && !(pi->flags & TH_ACK);
	return !nat_pass(&c->nat, now, dev->nat_ns, syn);
}

enum what { W_AIR, W_LOST, W_QUEUE, W_MTU, W_NAT };

static void count_one(struct linkemu_counts *c, int dir, const struct pinfo *pi, enum what w, uint64_t now)
{
	struct linkemu_dir_counts *d = dir == LINKEMU_UP ? &c->up : &c->down;
	if (!c->first_ns)
		c->first_ns = now;
	c->last_ns = now;
	switch (w) {
	case W_AIR:
		d->packets++;
		d->bytes += pi->len;
		d->syn += (pi->flags & TH_SYN) != 0;
		d->fin += (pi->flags & TH_FIN) != 0;
		d->rst += (pi->flags & TH_RST) != 0;
		break;
	case W_LOST:
		d->lost++;
		d->lost_data += pi->carries;
		break;
	case W_QUEUE: d->queue_drops++; break;
	case W_MTU: d->mtu_drops++; break;
	case W_NAT: d->nat_drops++; break;
	}
}

static void count(struct linkemu *e, struct device *dev, int dir, const struct pinfo *pi, enum what w, uint64_t now)
{
	count_one(&dev->counts, dir, pi, w, now);
	struct linkemu_counts *c = conn_counts(e, pi);
	if (c)
		count_one(c, dir, pi, w, now);
}

static int pkt_before(const struct pkt *a, const struct pkt *b)
{
	return a->release < b->release || (a->release == b->release && a->seq < b->seq);
}

static int heap_push(struct linkemu *e, struct pkt *p)
{
	if (e->nheap == e->capheap) {
		size_t cap = e->capheap ? e->capheap * 2 : 1024;
		struct pkt **h = realloc(e->heap, cap * sizeof *h);
		if (!h)
			return -1;
		e->heap = h;
		e->capheap = cap;
	}
	size_t i = e->nheap++;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (!pkt_before(p, e->heap[up]))
			break;
		e->heap[i] = e->heap[up];
		i = up;
	}
	e->heap[i] = p;
	return 0;
}

static struct pkt *heap_pop(struct linkemu *e)
{
	struct pkt *top = e->heap[0], *last = e->heap[--e->nheap];
	size_t i = 0, n = e->nheap;
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		const struct pkt *best = last;
		if (l < n && pkt_before(e->heap[l], best)) {
			m = l;
			best = e->heap[l];
		}
		if (l + 1 < n && pkt_before(e->heap[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		e->heap[i] = e->heap[m];
		i = m;
	}
	if (n)
		e->heap[i] = last;
	return top;
}

static void burst_add(struct device *dev, uint64_t start, uint64_t end, const struct pinfo *pi, int dir, int lost)
{
	size_t i = (dev->ring_head + dev->ring_len) % LINKEMU_BURSTS;
	if (dev->ring_len == LINKEMU_BURSTS) {
		dev->ring_head = (dev->ring_head + 1) % LINKEMU_BURSTS;
		dev->overwritten++;
	} else {
		dev->ring_len++;
	}
	dev->ring[i] = (struct linkemu_burst){ start, end, pi->len, (uint8_t)dir, (uint8_t)lost, pi->flags, pi->carries };
}

/* A packet read from a TUN: into its device's queue, or dropped. */
static void enqueue(struct linkemu *e, int dir, const unsigned char *b, size_t n, uint64_t now)
{
	struct pinfo pi;
	if (parse(b, n, dir, &pi) != 0) {
		e->st.non_ipv4++;
		return;
	}
	struct device *dev = (pi.dev_addr & 0xffff0000u) == LINKEMU_DEVICE_NET ? e->devs[pi.dev_addr & 0xffff] : NULL;
	if (!dev) {
		e->st.unknown++;
		return;
	}
	struct dir *d = &dev->dir[dir];
	if (pi.len > dev->p.mtu) {
		count(e, dev, dir, &pi, W_MTU, now);
		return;
	}
	int nat = nat_drops(e, dev, dir, &pi, now);
	if (nat && dir == LINKEMU_DOWN) {
		count(e, dev, dir, &pi, W_NAT, now); /* the network side: it never reaches the radio */
		return;
	}
	if (dev->p.queue_packets > 0) {
		int occ = 0;
		struct pkt *q;
		TAILQ_FOREACH_REVERSE(q, &d->q, pktq, link) {
			if (q->end <= now)
				break;
			occ++;
		}
		if (occ >= dev->p.queue_packets) {
			count(e, dev, dir, &pi, W_QUEUE, now);
			return;
		}
	}
	struct pkt *p = malloc(sizeof *p + pi.len);
	if (!p) {
		count(e, dev, dir, &pi, W_QUEUE, now); /* no memory: as good as a full queue */
		return;
	}
	memcpy(p->data, b, pi.len);
	p->pi = pi;
	p->dir = d;
	uint64_t start = d->busy_until > now ? d->busy_until : now;
	uint64_t ser = d->kbps > 0 ? (uint64_t)((double)pi.len * 8e6 / d->kbps + 0.5) : 0;
	if (dir == LINKEMU_DOWN && dev->listen_ns) {
		/* asleep and listening: the packet waits at the network for the next occasion */
		uint64_t at = start + dev->delay_ns;
		if (dev->air_last && at > dev->air_last + dev->asleep_ns) {
			uint64_t k = at > dev->listen_phase ? (at - dev->listen_phase + dev->listen_ns - 1) / dev->listen_ns : 0;
			uint64_t occ = dev->listen_phase + k * dev->listen_ns;
			if (occ > at) {
				start += occ - at;
				dev->listen_waits++;
			}
		}
	}
	p->end = start + ser;
	d->busy_until = p->end;
	p->release = p->end + dev->delay_ns;
	{
		uint64_t air_end = dir == LINKEMU_UP ? p->end : p->release;
		if (air_end > dev->air_last)
			dev->air_last = air_end;
	}
	p->seq = e->seq++;
	p->lost = d->loss > 0 && rng_unit(&d->rng) < d->loss;
	p->nat = (uint8_t)nat;
	if (heap_push(e, p) != 0) {
		free(p);
		count(e, dev, dir, &pi, W_QUEUE, now);
		return;
	}
	TAILQ_INSERT_TAIL(&d->q, p, link);
	if (dir == LINKEMU_UP) {
		burst_add(dev, start, p->end, &pi, dir, p->lost);
		count(e, dev, dir, &pi, W_AIR, now);
	} else {
		burst_add(dev, start + dev->delay_ns, p->release, &pi, dir, p->lost);
	}
	if (p->lost)
		count(e, dev, dir, &pi, W_LOST, now);
	else if (p->nat)
		count(e, dev, dir, &pi, W_NAT, now); /* sent on the air, dropped behind it */
}

static void release(struct linkemu *e, struct pkt *p, uint64_t now)
{
	struct dir *d = p->dir;
	TAILQ_REMOVE(&d->q, p, link);
	uint64_t late = now > p->release ? now - p->release : 0;
	e->late[e->late_n++ % LATE_RING] = late > UINT32_MAX ? UINT32_MAX : (uint32_t)late;
	if (!p->lost && !p->nat) {
		int out = d->idx == LINKEMU_UP ? e->tun_srv : e->tun_dev;
		/* CPU in write(), sampled 1 in 16 (thread CPU clocks are syscalls) */
		int sample = (e->st.moved & 15) == 0;
		uint64_t c0 = sample ? thread_cpu_ns() : 0;
		ssize_t w = write(out, p->data, p->pi.len);
		if (sample)
			e->st.deliver_cpu_ns += 16 * (thread_cpu_ns() - c0);
		if (w == (ssize_t)p->pi.len) {
			e->st.moved++;
			if (d->idx == LINKEMU_DOWN)
				count(e, d->dev, LINKEMU_DOWN, &p->pi, W_AIR, now);
		}
		/* A failed TUN write (the interface went down) loses the packet
		 * after the radio carried it; nothing else to do. */
	}
	free(p);
}

static void drain_tun(struct linkemu *e, int fd, int dir, unsigned char *buf, size_t cap)
{
	for (int i = 0; i < READ_BATCH; i++) {
		ssize_t n = read(fd, buf, cap);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			/* The TUN broke (deleted under us): stop watching it, or a
			 * real-time thread would spin on its error. */
			epoll_ctl(e->ep, EPOLL_CTL_DEL, fd, NULL);
			e->st.tun_errno = errno;
			return;
		}
		if (n <= 0)
			return;
		enqueue(e, dir, buf, (size_t)n, now_ns());
	}
}

static void *emu_thread(void *arg)
{
	struct linkemu *e = arg;
	static __thread unsigned char buf[65536];
	/* The default 50 us timer slack would make every release that late. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	/* A loaded machine delays a sleeping thread's wake-up by a millisecond
	 * and more: the lowest real-time priority takes that out (best effort;
	 * the kernel's RT throttling still bounds a runaway loop). */
	struct sched_param sp = { .sched_priority = 1 };
	int rt = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
	pthread_mutex_lock(&e->lock);
	e->realtime = rt;
	pthread_mutex_unlock(&e->lock);
	for (;;) {
		struct epoll_event ev[4];
		int n = epoll_wait(e->ep, ev, 4, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		pthread_mutex_lock(&e->lock);
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			if (fd == e->stopfd) {
				pthread_mutex_unlock(&e->lock);
				return NULL;
			}
			if (fd == e->tun_dev) {
				drain_tun(e, fd, LINKEMU_UP, buf, sizeof buf);
			} else if (fd == e->tun_srv) {
				drain_tun(e, fd, LINKEMU_DOWN, buf, sizeof buf);
			} else if (fd == e->tfd) {
				uint64_t x;
				if (read(e->tfd, &x, sizeof x) < 0) {
					/* EAGAIN: rearmed before it was read */
				}
			}
		}
		uint64_t now = now_ns();
		while (e->nheap && e->heap[0]->release <= now) {
			release(e, heap_pop(e), now);
			if (e->nheap && e->heap[0]->release > now)
				now = now_ns();
		}
		uint64_t t = e->nheap ? e->heap[0]->release : 0;
		if (t != e->armed) { /* one syscall less per batch when the head did not change */
			struct itimerspec its;
			memset(&its, 0, sizeof its);
			its.it_value.tv_sec = (time_t)(t / 1000000000u);
			its.it_value.tv_nsec = (long)(t % 1000000000u);
			timerfd_settime(e->tfd, TFD_TIMER_ABSTIME, &its, NULL);
			e->armed = t;
		}
		pthread_mutex_unlock(&e->lock);
	}
}

/* ---- the interface ---- */

uint32_t linkemu_server_addr(void)
{
	return LINKEMU_SERVER_ADDR;
}

const char *linkemu_netns_name(const struct linkemu *e)
{
	return e->nsname;
}

const char *linkemu_server_ifname(const struct linkemu *e)
{
	return e->srv_ifname;
}

static int ep_add(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

struct linkemu *linkemu_open(char *err, size_t errlen)
{
	if (!has_caps(err, errlen))
		return NULL;
	if (access("/dev/net/tun", F_OK) != 0) {
		errf(err, errlen, "links need /dev/net/tun: %s", strerror(errno));
		return NULL;
	}
	struct linkemu *e = calloc(1, sizeof *e);
	if (!e) {
		errf(err, errlen, "links: out of memory");
		return NULL;
	}
	e->root_ns = e->dev_ns = e->tun_dev = e->tun_srv = e->ctl_dev = e->ctl_srv = e->nl_dev = -1;
	e->ep = e->tfd = e->stopfd = -1;
	e->mtu = DEFAULT_MTU;
	pthread_mutex_init(&e->lock, NULL);
	snprintf(e->nsname, sizeof e->nsname, "dormant-%d", (int)getpid());
	snprintf(e->nspath, sizeof e->nspath, NETNS_DIR "/%s", e->nsname);
	snprintf(e->srv_ifname, sizeof e->srv_ifname, "dormant%d", (int)getpid());
	e->devs = calloc(65536, sizeof *e->devs);
	e->nbuckets = 1024;
	e->buckets = calloc(e->nbuckets, sizeof *e->buckets);
	if (!e->devs || !e->buckets) {
		errf(err, errlen, "links: out of memory");
		goto fail;
	}
	e->root_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (e->root_ns < 0) {
		errf(err, errlen, "links: open /proc/thread-self/ns/net: %s", strerror(errno));
		goto fail;
	}
	if (ns_create(e, err, errlen) != 0)
		goto fail;
	if (setns(e->dev_ns, CLONE_NEWNET) != 0) {
		errf(err, errlen, "links: setns into %s: %s", e->nsname, strerror(errno));
		goto fail;
	}
	int rc = setup_dev_side(e, err, errlen);
	if (setns(e->root_ns, CLONE_NEWNET) != 0) {
		fprintf(stderr, "dormant: links: setns back to the root namespace: %s\n", strerror(errno));
		abort();
	}
	if (rc != 0 || setup_srv_side(e, err, errlen) != 0)
		goto fail;
	e->ep = epoll_create1(EPOLL_CLOEXEC);
	e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	e->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->ep < 0 || e->tfd < 0 || e->stopfd < 0 || ep_add(e->ep, e->tun_dev) || ep_add(e->ep, e->tun_srv) ||
	    ep_add(e->ep, e->tfd) || ep_add(e->ep, e->stopfd)) {
		errf(err, errlen, "links: epoll/timerfd/eventfd: %s", strerror(errno));
		goto fail;
	}
	/* The thread must not take the caller's signals (SIGINT is the engine's). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&e->thread, NULL, emu_thread, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errf(err, errlen, "links: start the emulator thread: %s", strerror(rc));
		goto fail;
	}
	e->thread_started = 1;
	return e;
fail:
	{
		int saved = errno;
		linkemu_close(e);
		errno = saved;
	}
	return NULL;
}

void linkemu_close(struct linkemu *e)
{
	if (!e)
		return;
	if (e->thread_started) {
		uint64_t one = 1;
		if (write(e->stopfd, &one, sizeof one) != sizeof one)
			pthread_cancel(e->thread); /* cannot happen with an eventfd below its max */
		pthread_join(e->thread, NULL);
	}
	while (e->nheap)
		free(heap_pop(e));
	free(e->heap);
	int fds[] = { e->ep, e->tfd, e->stopfd, e->tun_srv, e->tun_dev, e->ctl_srv, e->ctl_dev, e->nl_dev, e->dev_ns };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (e->mounted)
		ns_remove(e->nspath);
	if (e->root_ns >= 0)
		close(e->root_ns);
	if (e->devs) {
		for (size_t i = 0; i < 65536; i++) {
			if (e->devs[i]) {
				free(e->devs[i]->ring);
				free(e->devs[i]);
			}
		}
		free(e->devs);
	}
	if (e->buckets) {
		for (size_t i = 0; i < e->nbuckets; i++) {
			for (struct conn *c = e->buckets[i], *next; c; c = next) {
				next = c->next;
				free(c);
			}
		}
		free(e->buckets);
	}
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static int set_mtu(struct linkemu *e, int mtu, char *err, size_t errlen)
{
	if (if_set(e->ctl_dev, DEV_IFNAME, 0, mtu, 0, err, errlen) != 0 ||
	    if_set(e->ctl_srv, e->srv_ifname, 0, mtu, 0, err, errlen) != 0)
		return -1;
	/* if_nametoindex() would look in the caller's namespace: ask through
	 * the device namespace's socket. */
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, DEV_IFNAME);
	if (ioctl(e->ctl_dev, SIOCGIFINDEX, &ifr) != 0) {
		errf(err, errlen, "links: index of %s: %s", DEV_IFNAME, strerror(errno));
		return -1;
	}
	if (nl_route(e->nl_dev, 0, 0, LINKEMU_SERVER_ADDR & 0xffff0000u, 16, ifr.ifr_ifindex, mtu, err, errlen) != 0)
		return -1;
	e->mtu = mtu;
	return 0;
}

int linkemu_add_device(struct linkemu *e, uint32_t addr, const struct linkemu_params *p, char *err, size_t errlen)
{
	const char *bad = NULL;
	if ((addr & 0xffff0000u) != LINKEMU_DEVICE_NET || (addr & 0xffff) == 0 || (addr & 0xffff) == 0xffff)
		bad = "address not within 198.18.0.1-198.18.255.254";
	else if (!(p->delay_ms >= 0 && p->delay_ms <= 600000))
		bad = "delay_ms must be between 0 and 600000";
	else if (!(p->up_kbps >= 0 && p->down_kbps >= 0 && p->up_kbps <= 1e8 && p->down_kbps <= 1e8))
		bad = "rates must be between 0 and 1e8 kbit/s";
	else if (!(p->loss_up >= 0 && p->loss_up <= 1 && p->loss_down >= 0 && p->loss_down <= 1))
		bad = "loss must be between 0 and 1";
	else if (p->queue_packets < 0)
		bad = "queue_packets must be >= 0";
	else if (!(p->nat_timeout_s >= 0 && p->nat_timeout_s <= 7 * 86400.0))
		bad = "nat_timeout_s must be between 0 and 604800";
	else if (!(p->listen_ms >= 0 && p->listen_ms <= 600000) || !(p->asleep_after_ms >= 0 && p->asleep_after_ms <= 600000))
		bad = "listen_ms and asleep_after_ms must be between 0 and 600000";
	else if (p->mtu < 68 || p->mtu > 65535)
		bad = "mtu must be between 68 and 65535";
	if (bad) {
		errf(err, errlen, "links: device %u.%u.%u.%u: %s", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255,
		     addr & 255, bad);
		errno = EINVAL;
		return -1;
	}
	struct device *dev = calloc(1, sizeof *dev);
	struct linkemu_burst *ring = calloc(LINKEMU_BURSTS, sizeof *ring);
	if (!dev || !ring) {
		free(dev);
		free(ring);
		errf(err, errlen, "links: out of memory");
		errno = ENOMEM;
		return -1;
	}
	dev->addr = addr;
	dev->p = *p;
	dev->delay_ns = (uint64_t)(p->delay_ms * 1e6 + 0.5);
	dev->nat_ns = p->nat_timeout_s > 0 ? (uint64_t)(p->nat_timeout_s * 1e9 + 0.5) : 0;
	dev->ring = ring;
	uint64_t s = p->seed;
	if (p->listen_ms > 0) {
		uint64_t ph = s ^ UINT64_C(0x6c697374656e); /* "listen": apart from the loss draws */
		dev->listen_ns = (uint64_t)(p->listen_ms * 1e6 + 0.5);
		dev->asleep_ns = p->asleep_after_ms > 0 ? (uint64_t)(p->asleep_after_ms * 1e6 + 0.5) : 0;
		dev->listen_phase = splitmix64(&ph) % dev->listen_ns;
	}
	for (int i = 0; i < 2; i++) {
		TAILQ_INIT(&dev->dir[i].q);
		dev->dir[i].idx = i;
		dev->dir[i].dev = dev;
		dev->dir[i].rng = splitmix64(&s) | 1; /* xorshift state must not be 0 */
	}
	dev->dir[LINKEMU_UP].kbps = p->up_kbps;
	dev->dir[LINKEMU_DOWN].kbps = p->down_kbps;
	dev->dir[LINKEMU_UP].loss = p->loss_up;
	dev->dir[LINKEMU_DOWN].loss = p->loss_down;
	pthread_mutex_lock(&e->lock);
	int rc = 0;
	if (e->devs[addr & 0xffff]) {
		errf(err, errlen, "links: device %u.%u.%u.%u added twice", addr >> 24, (addr >> 16) & 255,
		     (addr >> 8) & 255, addr & 255);
		errno = EEXIST;
		rc = -1;
	} else {
		int want = e->ndev == 0 ? p->mtu : (p->mtu > e->mtu ? p->mtu : e->mtu);
		if (want != e->mtu && set_mtu(e, want, err, errlen) != 0) {
			errno = EIO;
			rc = -1;
		} else {
			e->devs[addr & 0xffff] = dev;
			e->ndev++;
		}
	}
	pthread_mutex_unlock(&e->lock);
	if (rc != 0) {
		free(ring);
		free(dev);
	}
	return rc;
}

int linkemu_socket(struct linkemu *e, uint32_t dev_addr, int type)
{
	int mtu = 0;
	if (dev_addr) {
		pthread_mutex_lock(&e->lock);
		struct device *dev = (dev_addr & 0xffff0000u) == LINKEMU_DEVICE_NET ? e->devs[dev_addr & 0xffff] : NULL;
		if (dev)
			mtu = dev->p.mtu;
		pthread_mutex_unlock(&e->lock);
		if (!dev) {
			errno = ENOENT;
			return -1;
		}
	}
	if (setns(e->dev_ns, CLONE_NEWNET) != 0)
		return -1;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	int serr = errno;
	if (setns(e->root_ns, CLONE_NEWNET) != 0) {
		fprintf(stderr, "dormant: links: setns back to the root namespace: %s\n", strerror(errno));
		abort();
	}
	if (fd < 0) {
		errno = serr;
		return -1;
	}
	if (!dev_addr)
		return fd;
	int one = 1, tcp = (type & 0xff) == SOCK_STREAM;
	if (tcp) {
		int mss = mtu - 40;
		if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0 ||
		    setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss) != 0)
			goto fail;
	}
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(dev_addr) };
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
		goto fail;
	return fd;
fail:
	serr = errno;
	close(fd);
	errno = serr;
	return -1;
}

int linkemu_conn_counts(struct linkemu *e, uint32_t dev_addr, uint16_t dev_port, uint16_t srv_port,
                        struct linkemu_counts *out)
{
	pthread_mutex_lock(&e->lock);
	struct conn *c = *conn_slot(e, IPPROTO_TCP, dev_addr, dev_port, srv_port);
	if (c)
		*out = c->c;
	else
		memset(out, 0, sizeof *out);
	pthread_mutex_unlock(&e->lock);
	return c ? 0 : -1;
}

void linkemu_conn_forget(struct linkemu *e, uint32_t dev_addr, uint16_t dev_port, uint16_t srv_port)
{
	pthread_mutex_lock(&e->lock);
	struct conn **s = conn_slot(e, IPPROTO_TCP, dev_addr, dev_port, srv_port);
	if (*s && (*s)->nat.dead) {
		/* The NAT forgot the flow: what the kernel still sends on it (an
		 * orphan's FIN, retransmissions) stays dropped; only its counts go. */
		memset(&(*s)->c, 0, sizeof((*s)->c));
	} else if (*s) {
		struct conn *c = *s;
		*s = c->next;
		free(c);
		e->nconns--;
	}
	pthread_mutex_unlock(&e->lock);
}

int linkemu_dev_info(struct linkemu *e, uint32_t dev_addr, struct linkemu_dev_info *out)
{
	memset(out, 0, sizeof *out);
	if ((dev_addr & 0xffff0000u) != LINKEMU_DEVICE_NET)
		return -1;
	pthread_mutex_lock(&e->lock);
	struct device *dev = e->devs[dev_addr & 0xffff];
	if (dev) {
		out->counts = dev->counts;
		out->bursts_overwritten = dev->overwritten;
		out->listen_waits = dev->listen_waits;
	}
	pthread_mutex_unlock(&e->lock);
	return dev ? 0 : -1;
}

size_t linkemu_bursts(struct linkemu *e, uint32_t dev_addr, uint64_t since_ns, struct linkemu_burst *out, size_t max)
{
	if ((dev_addr & 0xffff0000u) != LINKEMU_DEVICE_NET)
		return 0;
	size_t n = 0;
	pthread_mutex_lock(&e->lock);
	struct device *dev = e->devs[dev_addr & 0xffff];
	for (size_t i = 0; dev && i < dev->ring_len && n < max; i++) {
		const struct linkemu_burst *b = &dev->ring[(dev->ring_head + i) % LINKEMU_BURSTS];
		if (b->end_ns > since_ns)
			out[n++] = *b;
	}
	pthread_mutex_unlock(&e->lock);
	return n;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void linkemu_get_stats(struct linkemu *e, struct linkemu_stats *out)
{
	static uint32_t tmp[LATE_RING];
	static pthread_mutex_t tmp_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&tmp_lock);
	pthread_mutex_lock(&e->lock);
	*out = e->st;
	out->realtime = e->realtime;
	size_t n = e->late_n < LATE_RING ? e->late_n : LATE_RING;
	memcpy(tmp, e->late, n * sizeof *tmp);
	pthread_mutex_unlock(&e->lock);
	if (n) {
		qsort(tmp, n, sizeof *tmp, cmp_u32);
		out->late_p50_ns = tmp[n / 2];
		out->late_p99_ns = tmp[(n * 99) / 100];
		out->late_max_ns = tmp[n - 1];
	}
	pthread_mutex_unlock(&tmp_lock);
	clockid_t cid;
	struct timespec ts;
	if (e->thread_started && pthread_getcpuclockid(e->thread, &cid) == 0 && clock_gettime(cid, &ts) == 0)
		out->cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int linkemu_cleanup_stale(char *msg, size_t len)
{
	if (msg && len)
		msg[0] = 0;
	DIR *d = opendir(NETNS_DIR);
	if (!d)
		return errno == ENOENT ? 0 : (errf(msg, len, "links: open %s: %s", NETNS_DIR, strerror(errno)), -1);
	int removed = 0;
	size_t used = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		int pid, end = 0;
		if (sscanf(de->d_name, "dormant-%d%n", &pid, &end) != 1 || de->d_name[end] || pid <= 0 || pid == getpid())
			continue;
		if (kill(pid, 0) == 0 || errno != ESRCH)
			continue; /* alive (maybe another dormant run): not ours to touch */
		char path[300];
		snprintf(path, sizeof path, NETNS_DIR "/%s", de->d_name);
		ns_remove(path);
		if (access(path, F_OK) == 0) {
			errf(msg, len, "links: stale namespace %s (process %d is gone) could not be removed: %s", de->d_name,
			     pid, strerror(errno));
			closedir(d);
			return -1;
		}
		removed++;
		if (msg && used < len) {
			int w = snprintf(msg + used, len - used, "%sremoved stale namespace %s (process %d is gone)",
			                 used ? "; " : "", de->d_name, pid);
			used += w > 0 ? (size_t)w : 0;
		}
	}
	closedir(d);
	return removed;
}
