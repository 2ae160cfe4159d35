/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The authenticated, encrypted message stream of migration: key files, the
 * handshake, framing. The protocol is described in stream.h.
 */
#define LOG_PREFIX "" /* its messages are for the user */
#include "base/log.h"

#include "migrate/stream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROTO_VERSION 1
#define HELLO_MAGIC   "RTCRSTRM"
#define MAGIC_LEN     8
#define HELLO_LEN     (MAGIC_LEN + 4 + 32) /* magic, version, role, ciphers, 0, random */
#define PROOF_LEN     32
#define TAG_LEN	      16
#define NONCE_LEN     12 /* both ciphers: the IETF 96-bit nonce */
#define KDF_CONTEXT   "rtcrstrm"
#define PRK_LABEL     "rtcr stream v1"

/* The cipher bits of the hello. */
#define CIPHER_CHACHA 1u
#define CIPHER_AES    2u
#define CIPHER_KNOWN  (CIPHER_CHACHA | CIPHER_AES)

/* Key files: "rtcr-key-v1 " + 64 hex digits + "\n". */
#define KEY_MAGIC     "rtcr-key-v1 "
#define KEY_MAGIC_LEN (sizeof(KEY_MAGIC) - 1)
#define KEY_FILE_LEN  (KEY_MAGIC_LEN + 2 * STREAM_KEY_BYTES + 1)

/* Where the ciphertext of a received frame starts in the receive buffer:
 * after it, the 4-byte type, so that the payload is 16-byte aligned. */
#define RX_BODY_OFF 12

/* One direction of a stream: used by one thread at a time (its lock). */
struct dir {
	pthread_mutex_t lock;
	uint8_t key[32];
	uint64_t counter; /* nonce of the next frame */
	uint8_t *buf;
	size_t cap;
	int err; /* != 0: the direction is unusable, this was why */
	/* receiving: how far the current frame has come (resumed after a timeout) */
	uint8_t hdr[4];
	size_t hdr_got, body_len, body_got;
};

struct stream {
	/* the AES-GCM key schedules: 16-byte aligned (the struct is 64-aligned) */
	crypto_aead_aes256gcm_state tx_aes, rx_aes;
	int fd;
	unsigned cipher;	 /* CIPHER_AES or CIPHER_CHACHA */
	int timeout_ms;		 /* atomic */
	int shut;		 /* atomic: stream_shutdown was called */
	uint64_t sent, received; /* atomic */
	char peer[80];
	struct dir tx, rx;
};

/* Bounds one blocking step: an absolute deadline (CLOCK_MONOTONIC ms, -1:
 * none) that progress moves on by reset_ms (0: it does not). */
struct tmo {
	int64_t deadline;
	int reset_ms;
	int ms;		/* the timeout, for messages */
	bool handshake; /* for messages */
};

static int offer_mask; /* atomic; 0: auto */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct tmo tmo_progress(int ms)
{
	struct tmo t = {
	    .deadline = ms > 0 ? now_ms() + ms : -1, .reset_ms = ms > 0 ? ms : 0, .ms = ms};

	return t;
}

static struct tmo tmo_total(int ms, bool handshake)
{
	struct tmo t = {.deadline = ms > 0 ? now_ms() + ms : -1, .ms = ms, .handshake = handshake};

	return t;
}

static void tmo_progressed(struct tmo *t)
{
	if (t->reset_ms > 0)
		t->deadline = now_ms() + t->reset_ms;
}

static int crypto_init(void)
{
	if (sodium_init() < 0) {
		pr_err("cannot initialize libsodium");
		return -EIO;
	}
	return 0;
}

static unsigned cipher_available(void)
{
	return CIPHER_CHACHA | (crypto_aead_aes256gcm_is_available() ? CIPHER_AES : 0);
}

static unsigned cipher_offer(void)
{
	unsigned m = (unsigned)__atomic_load_n(&offer_mask, __ATOMIC_RELAXED);

	return m ? m : cipher_available();
}

int stream_set_cipher(const char *name)
{
	unsigned m;
	int ret = crypto_init();

	if (ret < 0)
		return ret;
	if (!strcmp(name, "auto"))
		m = 0;
	else if (!strcmp(name, "aes256gcm"))
		m = CIPHER_AES;
	else if (!strcmp(name, "chacha20poly1305"))
		m = CIPHER_CHACHA;
	else {
		pr_err("unknown cipher '%s' (auto, aes256gcm or chacha20poly1305)", name);
		return -EINVAL;
	}
	if (m && !(cipher_available() & m)) {
		pr_err("cipher %s is not available on this CPU (libsodium needs AES-NI and PCLMUL)",
		       name);
		return -ENOTSUP;
	}
	__atomic_store_n(&offer_mask, (int)m, __ATOMIC_RELAXED);
	return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- key files ---- */

static void key_line(char line[KEY_FILE_LEN + 1], const uint8_t key[STREAM_KEY_BYTES])
{
	memcpy(line, KEY_MAGIC, KEY_MAGIC_LEN);
	sodium_bin2hex(line + KEY_MAGIC_LEN, 2 * STREAM_KEY_BYTES + 1, key, STREAM_KEY_BYTES);
	line[KEY_FILE_LEN - 1] = '\n';
	line[KEY_FILE_LEN] = '\0';
}

/* Write a fresh key into fd (a new file named path for messages). */
static int write_new_key(int fd, const char *path)
{
	uint8_t key[STREAM_KEY_BYTES];
	char line[KEY_FILE_LEN + 1];
	size_t done = 0;
	int ret = 0;

	randombytes_buf(key, sizeof(key));
	key_line(line, key);
	if (fchmod(fd, 0600) < 0)
		ret = pr_perror("chmod %s", path);
	while (!ret && done < KEY_FILE_LEN) {
		ssize_t n = write(fd, line + done, KEY_FILE_LEN - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ret = pr_perror("write %s", path);
		else
			done += n;
	}
	if (!ret && fsync(fd) < 0)
		ret = pr_perror("fsync %s", path);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(line, sizeof(line));
	return ret;
}

int stream_keygen(const char *path)
{
	int fd, ret = crypto_init();

	if (ret < 0)
		return ret;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST) {
			pr_err("%s already exists: not overwriting it", path);
			return -EEXIST;
		}
		return pr_perror("create %s", path);
	}
	ret = write_new_key(fd, path);
	if (close(fd) < 0 && !ret)
		ret = pr_perror("close %s", path);
	if (ret < 0)
		unlink(path);
	return ret;
}

int stream_keygen_replace(const char *path)
{
	size_t n = strlen(path);
	char *tmp;
	int fd, ret = crypto_init();

	if (ret < 0)
		return ret;
	tmp = malloc(n + sizeof(".XXXXXX"));
	if (!tmp) {
		pr_err("out of memory");
		return -ENOMEM;
	}
	memcpy(tmp, path, n);
	memcpy(tmp + n, ".XXXXXX", sizeof(".XXXXXX"));
	/* mkostemp: O_EXCL, mode 0600 */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = pr_perror("create a file next to %s", path);
		free(tmp);
		return ret;
	}
	ret = write_new_key(fd, tmp);
	if (close(fd) < 0 && !ret)
		ret = pr_perror("close %s", tmp);
	if (!ret && rename(tmp, path) < 0)
		ret = pr_perror("rename %s to %s", tmp, path);
	if (ret < 0)
		unlink(tmp);
	free(tmp);
	return ret;
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int stream_key_load(const char *path, uint8_t key[STREAM_KEY_BYTES])
{
	char line[KEY_FILE_LEN + 1];
	struct stat st;
	size_t got = 0;
	int fd, ret = crypto_init();

	if (ret < 0)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return pr_perror("key file %s", path);
	if (fstat(fd, &st) < 0) {
		ret = pr_perror("stat %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("key file %s is not a regular file", path);
		ret = -EINVAL;
		goto out;
	}
	if (st.st_uid != geteuid()) {
		pr_err("key file %s belongs to uid %u, not to you (uid %u): its owner could read "
		       "or replace the key",
		       path, (unsigned)st.st_uid, (unsigned)geteuid());
		ret = -EACCES;
		goto out;
	}
	if (st.st_mode & 077) {
		pr_err("key file %s has mode %04o: group or others may access it; "
		       "it must be private (chmod 600 %s)",
		       path, (unsigned)(st.st_mode & 07777), path);
		ret = -EACCES;
		goto out;
	}
	if (st.st_size != KEY_FILE_LEN) {
		pr_err("%s is not an rtcr key file: %lld bytes, a key file (rtcr keygen) has %zu",
		       path, (long long)st.st_size, KEY_FILE_LEN);
		ret = -EINVAL;
		goto out;
	}
	while (got < sizeof(line)) {
		ssize_t n = read(fd, line + got, sizeof(line) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = pr_perror("read %s", path);
			goto out;
		}
		if (!n)
			break;
		got += n;
	}
	ret = got == KEY_FILE_LEN && !memcmp(line, KEY_MAGIC, KEY_MAGIC_LEN) &&
	      line[KEY_FILE_LEN - 1] == '\n';
	for (size_t i = KEY_MAGIC_LEN; ret && i < KEY_FILE_LEN - 1; i++)
		ret = is_lower_hex(line[i]);
	if (!ret) {
		pr_err("%s is not an rtcr key file: expected one line \"" KEY_MAGIC
		       "\" and 64 lowercase hex digits (made by rtcr keygen)",
		       path);
		ret = -EINVAL;
		goto out;
	}
	ret = sodium_hex2bin(key, STREAM_KEY_BYTES, line + KEY_MAGIC_LEN, 2 * STREAM_KEY_BYTES,
			     NULL, NULL, NULL)
		  ? -EINVAL
		  : 0;
	if (ret)
		pr_err("%s is not an rtcr key file", path);
out:
	sodium_memzero(line, sizeof(line));
	close(fd);
	return ret;
}

/* ---- addresses ---- */

/* Split "HOST:PORT" / "[V6]:PORT". */
static int split_hostport(const char *hp, char *host, size_t hostsz, char *port, size_t portsz)
{
	const char *colon, *h = hp;
	size_t hlen;

	if (hp[0] == '[') {
		const char *close = strchr(hp, ']');

		if (!close || close[1] != ':')
			goto bad;
		h = hp + 1;
		hlen = close - h;
		colon = close + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon)
			goto bad;
		hlen = colon - hp;
		if (memchr(hp, ':', hlen)) {
			pr_err("'%s': write an IPv6 address in brackets: [ADDRESS]:PORT", hp);
			return -EINVAL;
		}
	}
	if (!colon[1] || hlen >= hostsz || strlen(colon + 1) >= portsz)
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	strcpy(port, colon + 1);
	return 0;
bad:
	pr_err("'%s' is not HOST:PORT", hp);
	return -EINVAL;
}

static void format_addr(const struct sockaddr *sa, char *out, size_t outsz)
{
	char a[INET6_ADDRSTRLEN];
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	if (sa->sa_family == AF_INET) {
		memcpy(&s4, sa, sizeof(s4));
		inet_ntop(AF_INET, &s4.sin_addr, a, sizeof(a));
		snprintf(out, outsz, "%s:%u", a, ntohs(s4.sin_port));
	} else if (sa->sa_family == AF_INET6) {
		memcpy(&s6, sa, sizeof(s6));
		if (IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr)) {
			inet_ntop(AF_INET, &s6.sin6_addr.s6_addr[12], a, sizeof(a));
			snprintf(out, outsz, "%s:%u", a, ntohs(s6.sin6_port));
		} else {
			inet_ntop(AF_INET6, &s6.sin6_addr, a, sizeof(a));
			snprintf(out, outsz, "[%s]:%u", a, ntohs(s6.sin6_port));
		}
	} else
		snprintf(out, outsz, "(family %d)", sa->sa_family);
}

static int resolve(const char *what, const char *host, const char *port, bool passive,
		   struct addrinfo **res)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
	int r;

	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	r = getaddrinfo(host, port, &hints, res);
	if (r == EAI_SYSTEM)
		return pr_perror("%s: cannot resolve '%s'", what, host ? host : "*");
	if (r) {
		pr_err("%s: cannot resolve '%s' (port '%s'): %s", what, host ? host : "*", port,
		       gai_strerror(r));
		return r == EAI_MEMORY ? -ENOMEM : r == EAI_SERVICE ? -EINVAL : -EHOSTUNREACH;
	}
	return 0;
}

int stream_listen(const char *hostport, int *lfd)
{
	char host[256], port[64], what[300];
	struct addrinfo *res, *ai;
	bool any;
	int fd = -1, err = 0, ret, one = 1, zero = 0;

	*lfd = -1;
	ret = split_hostport(hostport, host, sizeof(host), port, sizeof(port));
	if (ret < 0)
		return ret;
	any = !host[0] || !strcmp(host, "*");
	snprintf(what, sizeof(what), "listen on %s", hostport);
	ret = resolve(what, any ? NULL : host, port, true, &res);
	if (ret < 0)
		return ret;
	/* every address: IPv6 first (dual stack), then the rest */
	for (int pass = any ? 0 : 1; pass < 2 && fd < 0; pass++) {
		for (ai = res; ai && fd < 0; ai = ai->ai_next) {
			if (pass == 0 && ai->ai_family != AF_INET6)
				continue;
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
				    ai->ai_protocol);
			if (fd < 0) {
				err = errno;
				continue;
			}
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (any && ai->ai_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
			    listen(fd, SOMAXCONN) < 0) {
				err = errno;
				close(fd);
				fd = -1;
			}
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		pr_err("%s: %s", what, strerror(err ? err : EADDRNOTAVAIL));
		return err ? -err : -EADDRNOTAVAIL;
	}
	*lfd = fd;
	return 0;
}

int stream_listen_port(int lfd)
{
	struct sockaddr_storage ss = {0};
	socklen_t len = sizeof(ss);

	if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0)
		return pr_perror("getsockname");
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	pr_err("not an IP socket");
	return -EINVAL;
}

/* ---- socket I/O ---- */

static void apply_timeout_opts(int fd, int timeout_ms)
{
	unsigned user = timeout_ms > 0 ? (unsigned)timeout_ms : 0;
	int one = 1;

	/* unacknowledged data: the kernel gives up after this long (0: default) */
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user, sizeof(user));
	/* an idle connection: probes after a third of the timeout, TCP_USER_TIMEOUT
	 * then closes it when they are not answered */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	if (timeout_ms > 0) {
		int idle = timeout_ms / 3000 > 0 ? timeout_ms / 3000 : 1;
		int cnt = 3;

		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof(idle));
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	}
}

static bool shut_down(const struct stream *s)
{
	return __atomic_load_n(&s->shut, __ATOMIC_ACQUIRE);
}

static int cancelled(const struct stream *s)
{
	pr_debug("stream with %s: shut down", s->peer);
	return -ECANCELED;
}

/* Wait until fd is ready for events or t's deadline passes (-ETIMEDOUT, not logged). */
static int wait_fd(const struct stream *s, short events, const struct tmo *t)
{
	for (;;) {
		struct pollfd p = {.fd = s->fd, .events = events};
		int ms = -1, r;

		if (t->deadline >= 0) {
			int64_t left = t->deadline - now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return pr_perror("poll");
	}
}

/* A failed send or recv: say what it means. */
static int sock_error(const struct stream *s, int err, const char *op)
{
	if (shut_down(s))
		return cancelled(s);
	switch (err) {
	case EPIPE:
	case ECONNRESET:
		pr_err("%s closed the connection%s", s->peer, err == ECONNRESET ? " (reset)" : "");
		return -ECONNRESET;
	case ETIMEDOUT:
		pr_err("connection with %s timed out: no answer from it (the peer or the link is "
		       "down)",
		       s->peer);
		return -ETIMEDOUT;
	default:
		pr_err("%s %s: %s", op, s->peer, strerror(err));
		return -err;
	}
}

static int timed_out(const struct stream *s, const struct tmo *t, bool sending)
{
	if (t->handshake)
		pr_err("peer %s did not complete the handshake within %d ms", s->peer, t->ms);
	else if (sending)
		pr_err("%s took no data for %d ms", s->peer, t->ms);
	else
		pr_err("nothing received from %s for %d ms", s->peer, t->ms);
	return -ETIMEDOUT;
}

/* Read n bytes into buf; *got (kept on errors) says how many are there.
 * boundary: *got == 0 is between two messages (for the message at EOF). */
static int read_full(struct stream *s, void *buf, size_t n, size_t *got, struct tmo *t,
		     bool boundary)
{
	while (*got < n) {
		ssize_t r;
		int ret;

		if (shut_down(s))
			return cancelled(s);
		r = recv(s->fd, (uint8_t *)buf + *got, n - *got, 0);
		if (r > 0) {
			*got += r;
			__atomic_add_fetch(&s->received, (uint64_t)r, __ATOMIC_RELAXED);
			tmo_progressed(t);
			continue;
		}
		if (r == 0) {
			if (shut_down(s))
				return cancelled(s);
			pr_err("%s closed the connection%s", s->peer,
			       t->handshake	   ? " during the handshake"
			       : boundary && !*got ? ""
						   : " in the middle of a message");
			return -ECONNRESET;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return sock_error(s, errno, "receive from");
		ret = wait_fd(s, POLLIN, t);
		if (ret == -ETIMEDOUT)
			return timed_out(s, t, false);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Write n bytes; *done (kept on errors) says how many went out. */
static int write_full(struct stream *s, const void *buf, size_t n, size_t *done, struct tmo *t)
{
	while (*done < n) {
		ssize_t r;
		int ret;

		if (shut_down(s))
			return cancelled(s);
		r = send(s->fd, (const uint8_t *)buf + *done, n - *done, MSG_NOSIGNAL);
		if (r >= 0) {
			*done += r;
			__atomic_add_fetch(&s->sent, (uint64_t)r, __ATOMIC_RELAXED);
			tmo_progressed(t);
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return sock_error(s, errno, "send to");
		ret = wait_fd(s, POLLOUT, t);
		if (ret == -ETIMEDOUT)
			return timed_out(s, t, true);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- the stream object and the handshake ---- */

static struct stream *stream_new(int fd, int timeout_ms)
{
	struct sockaddr_storage ss = {0};
	socklen_t len = sizeof(ss);
	struct stream *s;
	int one = 1;

	if (posix_memalign((void **)&s, 64, sizeof(*s))) {
		pr_err("out of memory");
		return NULL;
	}
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	pthread_mutex_init(&s->tx.lock, NULL);
	pthread_mutex_init(&s->rx.lock, NULL);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		format_addr((struct sockaddr *)&ss, s->peer, sizeof(s->peer));
	else
		snprintf(s->peer, sizeof(s->peer), "(unknown peer)");
	/* every message is one write: Nagle would only add latency */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	apply_timeout_opts(fd, s->timeout_ms);
	return s;
}

static void make_hello(uint8_t h[HELLO_LEN], bool server)
{
	memcpy(h, HELLO_MAGIC, MAGIC_LEN);
	h[MAGIC_LEN] = PROTO_VERSION;
	h[MAGIC_LEN + 1] = server;
	h[MAGIC_LEN + 2] = cipher_offer();
	h[MAGIC_LEN + 3] = 0;
	randombytes_buf(h + MAGIC_LEN + 4, 32);
}

static const char *cipher_names(unsigned mask)
{
	static const char *const names[] = {"nothing", "chacha20poly1305", "aes256gcm",
					    "aes256gcm and chacha20poly1305"};

	return names[mask & CIPHER_KNOWN];
}

/* Read and check the peer's hello. */
static int read_hello(struct stream *s, uint8_t h[HELLO_LEN], bool server, struct tmo *t)
{
	size_t got = 0;
	int ret;

	/* magic and version first: a peer of another version may say a different length */
	ret = read_full(s, h, MAGIC_LEN + 1, &got, t, false);
	if (ret < 0)
		return ret;
	if (memcmp(h, HELLO_MAGIC, MAGIC_LEN)) {
		pr_err("peer %s does not speak the rtcr stream protocol (wrong greeting)", s->peer);
		return -EPROTO;
	}
	if (h[MAGIC_LEN] != PROTO_VERSION) {
		pr_err("peer %s speaks stream protocol version %u, this rtcr speaks version %u: "
		       "use the same rtcr version on both nodes",
		       s->peer, h[MAGIC_LEN], PROTO_VERSION);
		return -EPROTO;
	}
	ret = read_full(s, h, HELLO_LEN, &got, t, false);
	if (ret < 0)
		return ret;
	if (h[MAGIC_LEN + 1] != !server) {
		pr_err("peer %s is not %s (a reflected or looped connection?)", s->peer,
		       server ? "a connecting client" : "an accepting server");
		return -EPROTO;
	}
	return 0;
}

static int handshake(struct stream *s, const uint8_t psk[STREAM_KEY_BYTES], bool server,
		     int timeout_ms)
{
	uint8_t mine[HELLO_LEN], theirs[HELLO_LEN], prk[crypto_kdf_KEYBYTES];
	uint8_t my_proof[PROOF_LEN], their_proof[PROOF_LEN], expect[PROOF_LEN];
	struct tmo t = tmo_total(timeout_ms > 0 ? timeout_ms : STREAM_HANDSHAKE_DEFAULT_MS, true);
	crypto_generichash_state h;
	size_t done = 0, got = 0;
	unsigned common;
	int ret;

	make_hello(mine, server);
	ret = write_full(s, mine, HELLO_LEN, &done, &t);
	if (ret < 0)
		return ret;
	ret = read_hello(s, theirs, server, &t);
	if (ret < 0)
		return ret;

	/* prk = BLAKE2b(key = psk; label, client hello, server hello) */
	crypto_generichash_init(&h, psk, STREAM_KEY_BYTES, sizeof(prk));
	crypto_generichash_update(&h, (const uint8_t *)PRK_LABEL, strlen(PRK_LABEL));
	crypto_generichash_update(&h, server ? theirs : mine, HELLO_LEN);
	crypto_generichash_update(&h, server ? mine : theirs, HELLO_LEN);
	crypto_generichash_final(&h, prk, sizeof(prk));
	sodium_memzero(&h, sizeof(h));
	crypto_kdf_derive_from_key(s->tx.key, sizeof(s->tx.key), server ? 2 : 1, KDF_CONTEXT, prk);
	crypto_kdf_derive_from_key(s->rx.key, sizeof(s->rx.key), server ? 1 : 2, KDF_CONTEXT, prk);
	crypto_kdf_derive_from_key(my_proof, sizeof(my_proof), server ? 4 : 3, KDF_CONTEXT, prk);
	crypto_kdf_derive_from_key(expect, sizeof(expect), server ? 3 : 4, KDF_CONTEXT, prk);
	sodium_memzero(prk, sizeof(prk));

	/* both send their proof before checking the other's: each side learns
	 * that the other lacks the key */
	done = 0;
	ret = write_full(s, my_proof, sizeof(my_proof), &done, &t);
	if (ret == 0)
		ret = read_full(s, their_proof, sizeof(their_proof), &got, &t, false);
	if (ret == 0 && crypto_verify_32(their_proof, expect)) {
		pr_err("peer %s did not prove it holds the key", s->peer);
		ret = -EACCES;
	}
	sodium_memzero(my_proof, sizeof(my_proof));
	sodium_memzero(expect, sizeof(expect));
	if (ret < 0)
		return ret;

	common = mine[MAGIC_LEN + 2] & theirs[MAGIC_LEN + 2] & CIPHER_KNOWN;
	if (common & CIPHER_AES)
		s->cipher = CIPHER_AES;
	else if (common & CIPHER_CHACHA)
		s->cipher = CIPHER_CHACHA;
	else {
		pr_err("no cipher in common with %s: it offers %s, this side %s", s->peer,
		       cipher_names(theirs[MAGIC_LEN + 2]), cipher_names(mine[MAGIC_LEN + 2]));
		return -EPROTO;
	}
	if (s->cipher == CIPHER_AES) {
		crypto_aead_aes256gcm_beforenm(&s->tx_aes, s->tx.key);
		crypto_aead_aes256gcm_beforenm(&s->rx_aes, s->rx.key);
	}
	pr_debug("stream with %s: %s", s->peer, stream_cipher(s));
	return 0;
}

/* Connect to one address within timeout_ms (0: the kernel's own). */
static int connect_one(const struct addrinfo *ai, int timeout_ms, int *fdp)
{
	struct pollfd p;
	socklen_t len = sizeof(int);
	int fd, err = 0, r;
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto ok;
	if (errno != EINPROGRESS && errno != EINTR) {
		err = errno;
		goto fail;
	}
	for (;;) {
		int ms = -1;

		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0) {
				err = ETIMEDOUT;
				goto fail;
			}
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		p = (struct pollfd){.fd = fd, .events = POLLOUT};
		r = poll(&p, 1, ms);
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR) {
			err = errno;
			goto fail;
		}
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		goto fail;
ok:
	*fdp = fd;
	return 0;
fail:
	close(fd);
	return -err;
}

int stream_connect(const char *hostport, const uint8_t key[STREAM_KEY_BYTES], int timeout_ms,
		   struct stream **out)
{
	char host[256], port[64], what[300];
	struct addrinfo *res, *ai;
	struct stream *s;
	int fd = -1, ret;

	*out = NULL;
	ret = crypto_init();
	if (ret < 0)
		return ret;
	ret = split_hostport(hostport, host, sizeof(host), port, sizeof(port));
	if (ret < 0)
		return ret;
	snprintf(what, sizeof(what), "connect to %s", hostport);
	ret = resolve(what, host, port, false, &res);
	if (ret < 0)
		return ret;
	ret = -EADDRNOTAVAIL;
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		ret = connect_one(ai, timeout_ms, &fd);
	freeaddrinfo(res);
	if (fd < 0) {
		pr_err("%s: %s", what, strerror(-ret));
		return ret;
	}
	s = stream_new(fd, timeout_ms);
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	ret = handshake(s, key, false, timeout_ms);
	if (ret < 0) {
		stream_close(s);
		return ret;
	}
	*out = s;
	return 0;
}

int stream_accept(int lfd, const uint8_t key[STREAM_KEY_BYTES], int timeout_ms, struct stream **out)
{
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
	struct stream *s;
	int fd, ret;

	*out = NULL;
	ret = crypto_init();
	if (ret < 0)
		return ret;
	for (;;) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		int ms = -1, r;

		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0)
			break;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			return pr_perror("accept");
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0) {
				pr_err("no connection within %d ms", timeout_ms);
				return -ETIMEDOUT;
			}
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		r = poll(&p, 1, ms);
		if (r < 0 && errno != EINTR)
			return pr_perror("poll");
	}
	s = stream_new(fd, timeout_ms);
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	ret = handshake(s, key, true, timeout_ms);
	if (ret < 0) {
		stream_close(s);
		return ret;
	}
	*out = s;
	return 0;
}

/* ---- messages ---- */

static int grow(struct dir *d, size_t need)
{
	uint8_t *p;

	if (need <= d->cap)
		return 0;
	/* the buffer is 16-byte aligned (malloc); the receive payload relies on it */
	p = realloc(d->buf, need);
	if (!p) {
		pr_err("out of memory (%zu bytes for a message)", need);
		return -ENOMEM;
	}
	d->buf = p;
	d->cap = need;
	return 0;
}

static void make_nonce(uint8_t nonce[NONCE_LEN], uint64_t counter)
{
	for (int i = 0; i < 8; i++)
		nonce[i] = counter >> (8 * i);
	memset(nonce + 8, 0, NONCE_LEN - 8);
}

int stream_sendv(struct stream *s, uint32_t type, const struct iovec *iov, int iovcnt)
{
	uint8_t nonce[NONCE_LEN];
	size_t len = 0, done = 0, frame;
	struct dir *d = &s->tx;
	struct tmo t;
	uint8_t *p;
	int ret;

	if (iovcnt < 0 || (iovcnt > 0 && !iov)) {
		pr_err("stream_sendv: bad iovec");
		return -EINVAL;
	}
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > STREAM_MAX_MSG - len) {
			pr_err("a message to %s is too large: more than the limit of %u bytes",
			       s->peer, STREAM_MAX_MSG);
			return -EMSGSIZE;
		}
		len += iov[i].iov_len;
	}
	frame = STREAM_FRAME_OVERHEAD + len;

	pthread_mutex_lock(&d->lock);
	if (shut_down(s)) {
		ret = cancelled(s);
		goto out;
	}
	if (d->err) {
		pr_err("cannot send to %s: the stream broke earlier", s->peer);
		ret = d->err;
		goto out;
	}
	if (d->counter == UINT64_MAX) {
		pr_err("stream to %s: out of nonces", s->peer);
		ret = -EOVERFLOW;
		goto out;
	}
	ret = grow(d, frame);
	if (ret < 0)
		goto out;
	/* length | type | payload, then type and payload encrypted in place */
	p = d->buf;
	put_be32(p, (uint32_t)(frame - 4));
	put_be32(p + 4, type);
	for (size_t i = 0, off = 8; i < (size_t)iovcnt; off += iov[i].iov_len, i++)
		if (iov[i].iov_len)
			memcpy(p + off, iov[i].iov_base, iov[i].iov_len);
	make_nonce(nonce, d->counter);
	if (s->cipher == CIPHER_AES)
		crypto_aead_aes256gcm_encrypt_detached_afternm(
		    p + 4, p + 8 + len, NULL, p + 4, 4 + len, p, 4, NULL, nonce, &s->tx_aes);
	else
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(
		    p + 4, p + 8 + len, NULL, p + 4, 4 + len, p, 4, NULL, nonce, d->key);

	t = tmo_progress(__atomic_load_n(&s->timeout_ms, __ATOMIC_RELAXED));
	ret = write_full(s, p, frame, &done, &t);
	if (ret == 0)
		d->counter++;
	else if (done)
		d->err = -EPIPE; /* a partial frame went out: the peer cannot resync */
out:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int stream_send(struct stream *s, uint32_t type, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	if (len > STREAM_MAX_MSG) {
		pr_err("a message to %s is too large: %zu bytes, the limit is %u", s->peer, len,
		       STREAM_MAX_MSG);
		return -EMSGSIZE;
	}
	return stream_sendv(s, type, &iov, len ? 1 : 0);
}

int stream_recv(struct stream *s, uint32_t *type, const void **buf, size_t *len)
{
	uint8_t nonce[NONCE_LEN];
	struct dir *d = &s->rx;
	struct tmo t;
	uint8_t *body;
	int ret, bad;

	pthread_mutex_lock(&d->lock);
	if (shut_down(s)) {
		ret = cancelled(s);
		goto out;
	}
	if (d->err) {
		pr_err("cannot receive from %s: the stream broke earlier", s->peer);
		ret = d->err;
		goto out;
	}
	t = tmo_progress(__atomic_load_n(&s->timeout_ms, __ATOMIC_RELAXED));
	if (d->hdr_got < sizeof(d->hdr)) {
		ret = read_full(s, d->hdr, sizeof(d->hdr), &d->hdr_got, &t, true);
		if (ret < 0)
			goto out;
		d->body_len = get_be32(d->hdr);
		d->body_got = 0;
		/* checked before anything is allocated or read */
		if (d->body_len < STREAM_FRAME_OVERHEAD - 4 ||
		    d->body_len > STREAM_MAX_MSG + STREAM_FRAME_OVERHEAD - 4) {
			pr_err("%s sent a frame of %zu bytes (the limit is %u): corrupted, or not "
			       "an rtcr stream",
			       s->peer, d->body_len, STREAM_MAX_MSG + STREAM_FRAME_OVERHEAD - 4);
			ret = d->err = -EPROTO;
			goto out;
		}
		ret = grow(d, RX_BODY_OFF + d->body_len);
		if (ret < 0) {
			d->err = ret;
			goto out;
		}
	}
	body = d->buf + RX_BODY_OFF;
	ret = read_full(s, body, d->body_len, &d->body_got, &t, false);
	if (ret < 0)
		goto out;

	make_nonce(nonce, d->counter);
	if (s->cipher == CIPHER_AES)
		bad = crypto_aead_aes256gcm_decrypt_detached_afternm(
		    body, NULL, body, d->body_len - TAG_LEN, body + d->body_len - TAG_LEN, d->hdr,
		    4, nonce, &s->rx_aes);
	else
		bad = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
		    body, NULL, body, d->body_len - TAG_LEN, body + d->body_len - TAG_LEN, d->hdr,
		    4, nonce, d->key);
	if (bad) {
		pr_err("message %llu from %s failed authentication: altered, replayed, reordered "
		       "or corrupted",
		       (unsigned long long)d->counter, s->peer);
		ret = d->err = -EPROTO;
		goto out;
	}
	d->counter++;
	d->hdr_got = 0;
	*type = get_be32(body);
	*buf = body + 4;
	*len = d->body_len - (STREAM_FRAME_OVERHEAD - 4);
	ret = 0;
out:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void stream_set_timeout(struct stream *s, int timeout_ms)
{
	if (timeout_ms < 0)
		timeout_ms = 0;
	__atomic_store_n(&s->timeout_ms, timeout_ms, __ATOMIC_RELAXED);
	apply_timeout_opts(s->fd, timeout_ms);
}

void stream_shutdown(struct stream *s)
{
	__atomic_store_n(&s->shut, 1, __ATOMIC_RELEASE);
	shutdown(s->fd, SHUT_RDWR);
}

int stream_fd(const struct stream *s)
{
	return s->fd;
}

const char *stream_peer(const struct stream *s)
{
	return s->peer;
}

const char *stream_cipher(const struct stream *s)
{
	return s->cipher == CIPHER_AES ? "aes256gcm" : "chacha20poly1305";
}

uint64_t stream_bytes_sent(const struct stream *s)
{
	return __atomic_load_n(&s->sent, __ATOMIC_RELAXED);
}

uint64_t stream_bytes_received(const struct stream *s)
{
	return __atomic_load_n(&s->received, __ATOMIC_RELAXED);
}

void stream_close(struct stream *s)
{
	if (!s)
		return;
	close(s->fd);
	pthread_mutex_destroy(&s->tx.lock);
	pthread_mutex_destroy(&s->rx.lock);
	free(s->tx.buf);
	free(s->rx.buf);
	sodium_memzero(s, sizeof(*s));
	free(s);
}
