/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the migration stream (src/migrate/stream.c) over loopback
 * TCP with forked peers: round trips of every size with both ciphers, send
 * and receive from two threads, key files, wrong keys, peers that send
 * garbage or tamper with frames (through a proxy process), timeouts, and
 * peers that go away. Every failure must be a clear error within a bounded
 * time, never a crash or a hang. Prints "ok - ..." / "not ok - ..." per
 * check; exits 1 if any failed.
 */
#define LOG_PREFIX "test: "
#include "base/log.h"
#include "tests/unit/tap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/str.h"
#include "migrate/stream.h"

static char tmproot[] = "/tmp/rtcr-test-stream-XXXXXX";
static uint8_t key1[STREAM_KEY_BYTES], key2[STREAM_KEY_BYTES];

#define T_BYE 0xb1e /* echo peer: stop */
#define TMO   5000  /* ms: bounds every step that should succeed */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		perror("malloc");
		exit(1);
	}
	return p;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* A listening socket on 127.0.0.1 and its port. */
static int listen_local(int *port)
{
	int lfd, ret = stream_listen("127.0.0.1:0", &lfd);

	if (ret < 0) {
		printf("Bail out! stream_listen: %s\n", log_last_error());
		exit(1);
	}
	*port = stream_listen_port(lfd);
	return lfd;
}

static void addr(char *buf, size_t n, int port)
{
	snprintf(buf, n, "127.0.0.1:%d", port);
}

/* Fork a peer running fn(arg); its exit status is what fn returns. */
static pid_t spawn(int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		int ret;

		alarm(20); /* a stuck peer must not hang the test */
		log_clear_error();
		ret = fn(arg);
		if (ret && *log_last_error())
			printf("# peer %d: %s\n", (int)getpid(), log_last_error());
		fflush(stdout);
		_exit(ret);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) < 0)
		return -1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* A raw TCP connection to 127.0.0.1:port. */
static int raw_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		_exit(99);
	}
	return fd;
}

static bool write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= r;
	}
	return true;
}

/* ---- peers ---- */

struct peer {
	const char *host; /* default 127.0.0.1 */
	int port;
	const uint8_t *key;
	int delay_ms; /* before doing anything after the handshake */
	int nmsgs;    /* messages to send (tamper and silent peers) */
	bool hangup;  /* close right after sending them */
};

static void peer_addr(char *buf, size_t n, const struct peer *p)
{
	snprintf(buf, n, "%s:%d", p->host ? p->host : "127.0.0.1", p->port);
}

/* Connect, then send back every message until T_BYE. */
static int peer_echo(void *arg)
{
	const struct peer *p = arg;
	struct stream *s;
	char a[64];
	int ret;

	peer_addr(a, sizeof(a), p);
	ret = stream_connect(a, p->key, TMO, &s);
	if (ret < 0)
		return ret == -EACCES ? 3 : 1;
	for (;;) {
		const void *buf;
		uint32_t type;
		size_t len;

		ret = stream_recv(s, &type, &buf, &len);
		if (ret < 0)
			break;
		if (type == T_BYE) {
			ret = stream_send(s, T_BYE, NULL, 0);
			break;
		}
		ret = stream_send(s, type, buf, len);
		if (ret < 0)
			break;
	}
	stream_close(s);
	return ret < 0 ? 2 : 0;
}

/* Connect, optionally send nmsgs messages after delay_ms, then stay until the other side closes. */
static int peer_quiet(void *arg)
{
	const struct peer *p = arg;
	struct stream *s;
	const void *buf;
	uint32_t type;
	size_t len;
	char a[64];
	int ret;

	peer_addr(a, sizeof(a), p);
	ret = stream_connect(a, p->key, TMO, &s);
	if (ret < 0)
		return 1;
	if (p->delay_ms)
		usleep(p->delay_ms * 1000);
	for (int i = 0; i < p->nmsgs; i++) {
		char m[32];

		snprintf(m, sizeof(m), "message %d", i);
		if (stream_send(s, 1, m, strlen(m)) < 0) {
			stream_close(s);
			return 2;
		}
	}
	stream_set_timeout(s, 10000);
	if (!p->hangup)
		stream_recv(s, &type, &buf, &len); /* until the other side goes */
	stream_close(s);
	return 0;
}

/* Connect and close right away after the handshake. */
static int peer_hangup(void *arg)
{
	const struct peer *p = arg;
	struct stream *s;
	char a[64];

	peer_addr(a, sizeof(a), p);
	if (stream_connect(a, p->key, TMO, &s) < 0)
		return 1;
	stream_close(s);
	return 0;
}

/* Raw peers: what they send instead of a hello. */
enum raw_kind { RAW_RANDOM, RAW_VERSION, RAW_BAD_PROOF, RAW_SILENT, RAW_SLOW };

struct raw {
	int port;
	enum raw_kind kind;
};

static int peer_raw(void *arg)
{
	const struct raw *r = arg;
	uint8_t buf[4096];
	int fd = raw_connect(r->port);

	switch (r->kind) {
	case RAW_RANDOM:
		fill(buf, sizeof(buf), 77);
		write_all(fd, buf, sizeof(buf));
		break;
	case RAW_VERSION:
		memcpy(buf, "RTCRSTRM", 8);
		buf[8] = 99;
		memset(buf + 9, 0, 35);
		write_all(fd, buf, 44);
		break;
	case RAW_BAD_PROOF:
		/* a hello that looks right, then a proof made up without the key */
		memcpy(buf, "RTCRSTRM\x01\x00\x03\x00", 12);
		fill(buf + 12, 32 + 32, 5);
		write_all(fd, buf, 44 + 32);
		break;
	case RAW_SILENT:
		break;
	case RAW_SLOW:
		/* a byte at a time, slower than the handshake may take */
		for (int i = 0; i < 8; i++) {
			write_all(fd, &"RTCRSTRM"[i], 1);
			usleep(100 * 1000);
		}
		break;
	}
	/* wait for the other side to close */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return 0;
}

/* ---- the tampering proxy ---- */

enum tamper {
	TAMPER_NONE,
	TAMPER_FLIP,
	TAMPER_REPLAY,
	TAMPER_REORDER,
	TAMPER_BIGLEN,
	TAMPER_TRUNCATE,
	TAMPER_REPLAY_SESSION
};

struct proxy {
	int lfd;	 /* where the client connects */
	int server_port; /* where the proxy connects */
	enum tamper how;
};

#define HS_CLIENT_BYTES (44 + 32) /* hello + proof */

/* Forward both ways; frames from the client to the server are tampered with. */
static int proxy_run(void *arg)
{
	const struct proxy *px = arg;
	size_t cap = 1 << 20, have = 0, hs_left = HS_CLIENT_BYTES, frames = 0;
	uint8_t *cbuf = xmalloc(cap), *held = NULL, *record = xmalloc(cap);
	size_t held_len = 0, rec_len = 0;
	int c, sfd;

	fcntl(px->lfd, F_SETFL, 0); /* stream_listen made it non-blocking */
	c = accept4(px->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return 1;
	sfd = raw_connect(px->server_port);
	for (;;) {
		struct pollfd p[2] = {{.fd = c, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		uint8_t tmp[65536];
		ssize_t n;

		if (poll(p, 2, -1) < 0)
			return 1;
		if (p[1].revents) {
			n = read(sfd, tmp, sizeof(tmp));
			if (n <= 0)
				break;
			write_all(c, tmp, n);
		}
		if (!p[0].revents)
			continue;
		n = read(c, cbuf + have, cap - have);
		if (n <= 0)
			break;
		if (px->how == TAMPER_REPLAY_SESSION && rec_len + n <= cap) {
			memcpy(record + rec_len, cbuf + have, n);
			rec_len += n;
		}
		have += n;
		/* the handshake goes through as it is */
		if (hs_left) {
			size_t k = have < hs_left ? have : hs_left;

			write_all(sfd, cbuf, k);
			memmove(cbuf, cbuf + k, have - k);
			have -= k;
			hs_left -= k;
		}
		/* then whole frames */
		while (!hs_left && have >= 4) {
			size_t flen =
			    4 + ((size_t)cbuf[0] << 24 | cbuf[1] << 16 | cbuf[2] << 8 | cbuf[3]);

			if (have < flen)
				break;
			switch (px->how) {
			case TAMPER_FLIP:
				if (frames == 1)
					cbuf[4 + 7] ^= 0x10;
				write_all(sfd, cbuf, flen);
				break;
			case TAMPER_REPLAY:
				write_all(sfd, cbuf, flen);
				if (frames == 0)
					write_all(sfd, cbuf, flen);
				break;
			case TAMPER_REORDER:
				if (frames == 0) {
					held = xmalloc(flen);
					memcpy(held, cbuf, flen);
					held_len = flen;
				} else {
					write_all(sfd, cbuf, flen);
					if (held)
						write_all(sfd, held, held_len);
					free(held);
					held = NULL;
				}
				break;
			case TAMPER_BIGLEN:
				if (frames == 0) {
					cbuf[0] = 0x7f;
					cbuf[1] = cbuf[2] = cbuf[3] = 0xff;
				}
				write_all(sfd, cbuf, flen);
				break;
			case TAMPER_TRUNCATE:
				if (frames == 0) {
					write_all(sfd, cbuf, flen / 2);
					close(sfd);
					close(c);
					free(cbuf);
					free(record);
					return 0;
				}
				break;
			default:
				write_all(sfd, cbuf, flen);
			}
			frames++;
			memmove(cbuf, cbuf + flen, have - flen);
			have -= flen;
		}
	}
	close(c);
	close(sfd);
	if (px->how == TAMPER_REPLAY_SESSION) {
		/* a second connection that says what the client said the first time */
		uint8_t tmp[4096];

		sfd = raw_connect(px->server_port);
		write_all(sfd, record, rec_len);
		while (read(sfd, tmp, sizeof(tmp)) > 0)
			;
		close(sfd);
	}
	free(cbuf);
	free(record);
	free(held);
	return 0;
}

/* ---- tests ---- */

static bool echo_one(struct stream *s, uint32_t type, const uint8_t *msg, size_t len)
{
	const void *buf;
	uint32_t rtype;
	size_t rlen;

	if (stream_send(s, type, msg, len) < 0)
		return false;
	if (stream_recv(s, &rtype, &buf, &rlen) < 0)
		return false;
	return rtype == type && rlen == len && (!len || !memcmp(buf, msg, len)) &&
	       ((uintptr_t)buf & 15) == 0;
}

static void test_round_trip(const char *cipher)
{
	static const size_t sizes[] = {0, 1, 4095, 1 << 20, STREAM_MAX_MSG};
	struct peer p = {.key = key1};
	uint8_t *msg = xmalloc(STREAM_MAX_MSG + 1);
	struct stream *s;
	const void *buf;
	uint32_t type;
	size_t len;
	pid_t pid;
	int lfd, ret;
	bool ok;

	if (stream_set_cipher(cipher) < 0) {
		skip_case("round trip with %s: not available", cipher);
		free(msg);
		return;
	}
	lfd = listen_local(&p.port);
	pid = spawn(peer_echo, &p);
	ret = stream_accept(lfd, key1, TMO, &s);
	check(ret == 0, "%s: accept with the right key", cipher);
	if (ret < 0)
		goto out;
	check(!strcmp(stream_cipher(s), cipher), "%s: the agreed cipher is %s", cipher,
	      stream_cipher(s));
	check(!strncmp(stream_peer(s), "127.0.0.1:", 10), "%s: peer is %s", cipher, stream_peer(s));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill(msg, sizes[i], i + 1);
		check(echo_one(s, 100 + i, msg, sizes[i]), "%s: %zu-byte message round trip",
		      cipher, sizes[i]);
	}
	/* gather: one message from three pieces */
	{
		struct iovec iov[3] = {{msg, 10}, {msg + 10, 0}, {msg + 10, 5000}};

		fill(msg, 5010, 42);
		ok = stream_sendv(s, 7, iov, 3) == 0 && stream_recv(s, &type, &buf, &len) == 0 &&
		     type == 7 && len == 5010 && !memcmp(buf, msg, 5010);
		check(ok, "%s: sendv of 3 pieces arrives as one message", cipher);
	}
	ret = stream_send(s, 1, msg, STREAM_MAX_MSG + 1);
	check(ret == -EMSGSIZE, "%s: a message over STREAM_MAX_MSG is refused", cipher);
	{
		uint64_t sent = stream_bytes_sent(s), rcvd = stream_bytes_received(s);
		uint64_t payload = 0;

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			payload += sizes[i] + STREAM_FRAME_OVERHEAD;
		payload += 5010 + STREAM_FRAME_OVERHEAD + 44 + 32;
		check(sent == payload && rcvd == payload, "%s: bytes on the wire %llu/%llu (%llu)",
		      cipher, (unsigned long long)sent, (unsigned long long)rcvd,
		      (unsigned long long)payload);
	}
	stream_send(s, T_BYE, NULL, 0);
	stream_recv(s, &type, &buf, &len);
	stream_close(s);
out:
	check(reap(pid) == 0, "%s: echo peer exits cleanly", cipher);
	close(lfd);
	free(msg);
	stream_set_cipher("auto");
}

/* One thread sends while another receives the echoes. */
#define CONC_MSGS 64
#define CONC_LEN  (256 << 10)

static void *conc_sender(void *arg)
{
	struct stream *s = arg;
	uint8_t *msg = xmalloc(CONC_LEN);
	intptr_t bad = 0;

	for (int i = 0; i < CONC_MSGS && !bad; i++) {
		fill(msg, CONC_LEN, 1000 + i);
		bad = stream_send(s, i, msg, CONC_LEN) < 0;
	}
	free(msg);
	return (void *)bad;
}

static void test_concurrent(void)
{
	struct peer p = {.key = key1};
	uint8_t *want = xmalloc(CONC_LEN);
	struct stream *s;
	pthread_t th;
	void *bad;
	pid_t pid;
	int lfd, ret, good = 0;

	lfd = listen_local(&p.port);
	pid = spawn(peer_echo, &p);
	ret = stream_accept(lfd, key1, TMO, &s);
	if (ret == 0) {
		pthread_create(&th, NULL, conc_sender, s);
		for (int i = 0; i < CONC_MSGS; i++) {
			const void *buf;
			uint32_t type;
			size_t len;

			if (stream_recv(s, &type, &buf, &len) < 0)
				break;
			fill(want, CONC_LEN, 1000 + i);
			good += type == (uint32_t)i && len == CONC_LEN && !memcmp(buf, want, len);
		}
		pthread_join(th, &bad);
		check(!bad && good == CONC_MSGS,
		      "send in one thread, receive in another: %d/%d echoes right", good,
		      CONC_MSGS);
		stream_send(s, T_BYE, NULL, 0);
		stream_close(s);
	} else
		check(false, "accept for the concurrent test");
	reap(pid);
	close(lfd);
	free(want);
}

static void test_wrong_key(void)
{
	struct peer p = {.key = key2};
	struct stream *s;
	pid_t pid;
	int lfd, ret, st;

	lfd = listen_local(&p.port);
	pid = spawn(peer_echo, &p);
	ret = stream_accept(lfd, key1, TMO, &s);
	check(ret == -EACCES && strstr(log_last_error(), "did not prove it holds the key"),
	      "a client with another key is refused (-EACCES)");
	st = reap(pid);
	check(st == 3, "... and the client refuses the server too (-EACCES; exit %d)", st);
	if (ret == 0)
		stream_close(s);
	close(lfd);
}

static void test_cipher_mismatch(void)
{
	struct peer p = {.key = key1};
	struct stream *s;
	pid_t pid;
	int lfd, ret;

	if (stream_set_cipher("aes256gcm") < 0) {
		skip_case("cipher mismatch: no AES-256-GCM here");
		return;
	}
	lfd = listen_local(&p.port);
	/* the peer offers only ChaCha20, this side only AES */
	stream_set_cipher("chacha20poly1305");
	pid = spawn(peer_echo, &p);
	stream_set_cipher("aes256gcm");
	ret = stream_accept(lfd, key1, TMO, &s);
	check(ret == -EPROTO && strstr(log_last_error(), "no cipher in common"),
	      "peers with no cipher in common fail the handshake (-EPROTO)");
	if (ret == 0)
		stream_close(s);
	reap(pid);
	close(lfd);
	stream_set_cipher("auto");
}

static void test_raw(enum raw_kind kind, int timeout, int want, const char *what, const char *msg)
{
	struct raw r = {.kind = kind};
	struct stream *s;
	int64_t t0;
	pid_t pid;
	int lfd, ret;

	lfd = listen_local(&r.port);
	pid = spawn(peer_raw, &r);
	t0 = now_ms();
	ret = stream_accept(lfd, key1, timeout, &s);
	t0 = now_ms() - t0;
	check(ret == want && strstr(log_last_error(), msg) && t0 < timeout + 1000,
	      "%s: %s after %lld ms", what, strerror(-ret), (long long)t0);
	if (ret == 0)
		stream_close(s);
	reap(pid);
	close(lfd);
}

/* Through the proxy: how many messages arrive, then which error. */
static void test_tamper(enum tamper how, int want_good, int want_err, const char *what)
{
	struct proxy px = {.how = how};
	struct peer p = {.key = key1, .nmsgs = 3, .hangup = true};
	struct stream *s;
	pid_t proxy, client;
	int lfd, good = 0, ret;

	lfd = listen_local(&px.server_port);
	px.lfd = listen_local(&p.port);
	proxy = spawn(proxy_run, &px);
	client = spawn(peer_quiet, &p);
	ret = stream_accept(lfd, key1, TMO, &s);
	if (ret < 0) {
		check(false, "%s: handshake through the proxy", what);
		goto out;
	}
	stream_set_timeout(s, TMO);
	for (;;) {
		const void *buf;
		uint32_t type;
		size_t len;
		char m[32];

		ret = stream_recv(s, &type, &buf, &len);
		if (ret < 0)
			break;
		snprintf(m, sizeof(m), "message %d", good);
		if (type != 1 || len != strlen(m) || memcmp(buf, m, len))
			break;
		good++;
	}
	check(good == want_good && ret == want_err, "%s: %d good message(s), then %s", what, good,
	      strerror(-ret));
	ret = stream_recv(s, &(uint32_t){0}, &(const void *){NULL}, &(size_t){0});
	if (want_err == -EPROTO)
		check(ret == -EPROTO, "%s: the receiving side stays refused", what);
	stream_close(s);
	if (how == TAMPER_REPLAY_SESSION) {
		ret = stream_accept(lfd, key1, TMO, &s);
		check(ret == -EACCES, "a replayed recording of a whole session is refused: %s",
		      strerror(-ret));
		if (ret == 0)
			stream_close(s);
	}
out:
	reap(client);
	reap(proxy);
	close(px.lfd);
	close(lfd);
}

static void test_timeouts(void)
{
	struct peer p = {.key = key1, .delay_ms = 700, .nmsgs = 1};
	struct stream *s;
	const void *buf;
	uint32_t type;
	size_t len;
	char a[64];
	int64_t t0;
	pid_t pid;
	int lfd, ret, port;

	/* a silent peer: recv gives up after the timeout, and the stream stays usable */
	lfd = listen_local(&p.port);
	pid = spawn(peer_quiet, &p);
	ret = stream_accept(lfd, key1, TMO, &s);
	if (ret == 0) {
		stream_set_timeout(s, 300);
		t0 = now_ms();
		ret = stream_recv(s, &type, &buf, &len);
		t0 = now_ms() - t0;
		check(ret == -ETIMEDOUT && t0 >= 250 && t0 < 1000,
		      "recv from a silent peer: -ETIMEDOUT after %lld ms (timeout 300)",
		      (long long)t0);
		stream_set_timeout(s, TMO);
		ret = stream_recv(s, &type, &buf, &len);
		check(ret == 0 && len == 9 && !memcmp(buf, "message 0", 9),
		      "... and the next recv gets the late message");
		stream_close(s);
	} else
		check(false, "accept for the timeout test");
	reap(pid);
	close(lfd);

	/* a server that never answers the handshake (its listen backlog takes the connection) */
	lfd = listen_local(&port);
	addr(a, sizeof(a), port);
	t0 = now_ms();
	ret = stream_connect(a, key1, 300, &s);
	t0 = now_ms() - t0;
	check(ret == -ETIMEDOUT && t0 < 1000,
	      "connect to a server that never answers: %s after %lld ms", strerror(-ret),
	      (long long)t0);
	if (ret == 0)
		stream_close(s);
	close(lfd);

	/* nobody connects */
	lfd = listen_local(&port);
	t0 = now_ms();
	ret = stream_accept(lfd, key1, 200, &s);
	t0 = now_ms() - t0;
	check(ret == -ETIMEDOUT && t0 >= 150 && t0 < 1000,
	      "accept with nobody connecting: %s after %lld ms", strerror(-ret), (long long)t0);
	close(lfd);
}

static void test_refused(void)
{
	struct stream *s;
	char a[64], want[128];
	int lfd, port, ret;

	lfd = listen_local(&port);
	close(lfd); /* nobody on that port now */
	addr(a, sizeof(a), port);
	ret = stream_connect(a, key1, TMO, &s);
	snprintf(want, sizeof(want), "connect to %s: Connection refused", a);
	check(ret == -ECONNREFUSED && !strcmp(log_last_error(), want),
	      "nobody listening: -ECONNREFUSED");
	ret = stream_connect("no-such-host.invalid:7000", key1, TMO, &s);
	check(ret < 0 && strstr(log_last_error(), "cannot resolve"), "unknown host: %s",
	      strerror(-ret));
	ret = stream_connect("127.0.0.1", key1, TMO, &s);
	check(ret == -EINVAL, "no port: -EINVAL");
	ret = stream_connect("::1:7000", key1, TMO, &s);
	check(ret == -EINVAL, "IPv6 without brackets: -EINVAL");
}

static void test_ipv6_and_names(void)
{
	struct peer p = {.host = "localhost", .key = key1};
	struct stream *s;
	char a[64];
	pid_t pid;
	int lfd, ret;

	/* a name: the peer connects to localhost:PORT (the listener is on 127.0.0.1) */
	lfd = listen_local(&p.port);
	pid = spawn(peer_echo, &p);
	ret = stream_accept(lfd, key1, TMO, &s);
	if (ret == 0) {
		stream_send(s, T_BYE, NULL, 0);
		stream_close(s);
	}
	check(ret == 0 && reap(pid) == 0, "connect to localhost:PORT (a name)");
	close(lfd);

	if (stream_listen("[::1]:0", &lfd) < 0) {
		skip_case("IPv6: no ::1 here");
		log_clear_error();
		return;
	}
	snprintf(a, sizeof(a), "[::1]:%d", stream_listen_port(lfd));
	pid = fork();
	if (pid == 0) {
		struct stream *c;

		alarm(20);
		_exit(stream_connect(a, key1, TMO, &c) < 0);
	}
	ret = stream_accept(lfd, key1, TMO, &s);
	check(ret == 0 && !strncmp(stream_peer(s), "[::1]:", 6), "IPv6: peer %s",
	      ret == 0 ? stream_peer(s) : "-");
	if (ret == 0)
		stream_close(s);
	reap(pid);
	close(lfd);

	/* the wildcard listener takes IPv4 too */
	ret = stream_listen(":0", &lfd);
	check(ret == 0, "listen on :PORT");
	if (ret == 0) {
		struct peer q = {.key = key1, .port = stream_listen_port(lfd)};

		pid = spawn(peer_echo, &q);
		ret = stream_accept(lfd, key1, TMO, &s);
		check(ret == 0 && !strncmp(stream_peer(s), "127.0.0.1:", 10),
		      "a wildcard listener accepts IPv4: peer %s", ret == 0 ? stream_peer(s) : "-");
		if (ret == 0) {
			stream_send(s, T_BYE, NULL, 0);
			stream_close(s);
		}
		reap(pid);
		close(lfd);
	}
}

static void test_hangup(void)
{
	struct peer p = {.key = key1};
	struct stream *s;
	const void *buf;
	uint32_t type;
	size_t len;
	pid_t pid;
	int lfd, ret;

	lfd = listen_local(&p.port);
	pid = spawn(peer_hangup, &p);
	ret = stream_accept(lfd, key1, TMO, &s);
	if (ret == 0) {
		ret = stream_recv(s, &type, &buf, &len);
		check(ret == -ECONNRESET && strstr(log_last_error(), "closed the connection"),
		      "the peer closes: -ECONNRESET");
		reap(pid);
		ret = 0;
		/* sending into a closed connection: an error, no SIGPIPE */
		for (int i = 0; i < 100 && ret == 0; i++)
			ret = stream_send(s, 1, "x", 1);
		check(ret == -ECONNRESET, "send after the peer closed: %s", strerror(-ret));
		stream_close(s);
	} else {
		check(false, "accept for the hangup test");
		reap(pid);
	}
	close(lfd);
}

static void *blocked_recv(void *arg)
{
	const void *buf;
	uint32_t type;
	size_t len;

	return (void *)(intptr_t)stream_recv(arg, &type, &buf, &len);
}

static void test_shutdown(void)
{
	struct peer p = {.key = key1};
	struct stream *s;
	pthread_t th;
	void *res;
	pid_t pid;
	int lfd, ret;

	lfd = listen_local(&p.port);
	pid = spawn(peer_quiet, &p);
	ret = stream_accept(lfd, key1, TMO, &s);
	if (ret == 0) {
		stream_set_timeout(s, 0);
		pthread_create(&th, NULL, blocked_recv, s);
		usleep(100 * 1000);
		stream_shutdown(s);
		pthread_join(th, &res);
		check((intptr_t)res == -ECANCELED, "stream_shutdown wakes a blocked recv: %s",
		      strerror(-(int)(intptr_t)res));
		stream_close(s);
	} else
		check(false, "accept for the shutdown test");
	reap(pid);
	close(lfd);
}

static void test_key_files(void)
{
	uint8_t k1[STREAM_KEY_BYTES], k2[STREAM_KEY_BYTES];
	char path[256], bad[256];
	struct stat st;
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/key", tmproot);
	ret = stream_keygen(path);
	check(ret == 0 && stat(path, &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_size == 77,
	      "keygen writes a 77-byte file of mode 0600");
	check(stream_key_load(path, k1) == 0, "the key file loads");
	ret = stream_keygen(path);
	check(ret == -EEXIST && strstr(log_last_error(), "already exists"),
	      "keygen again without replace: -EEXIST");
	check(stream_key_load(path, k2) == 0 && !memcmp(k1, k2, sizeof(k1)),
	      "... and the key is unchanged");
	ret = stream_keygen_replace(path);
	check(ret == 0 && stream_key_load(path, k2) == 0 && memcmp(k1, k2, sizeof(k1)) &&
		  stat(path, &st) == 0 && (st.st_mode & 07777) == 0600,
	      "keygen with replace writes a new key, mode 0600");
	chmod(path, 0644);
	ret = stream_key_load(path, k1);
	check(ret == -EACCES && strstr(log_last_error(), "0644"),
	      "a key file of mode 0644 is refused");
	chmod(path, 0640);
	check(stream_key_load(path, k1) == -EACCES, "a key file of mode 0640 is refused");
	chmod(path, 0600);
	if (geteuid() == 0 && chown(path, 65534, 65534) == 0) {
		ret = stream_key_load(path, k1);
		check(ret == -EACCES && strstr(log_last_error(), "belongs to uid 65534"),
		      "a key file of another user is refused");
		check(chown(path, 0, 0) == 0 && stream_key_load(path, k1) == 0,
		      "the same key file of ours loads");
	} else {
		skip_case("a key file of another user: not root");
	}
	{
		char out[16];

		check(!strcmp(str_printable(out, sizeof(out), "a\x1b[2Jb\n\x7f", 8), "a?[2Jb??"),
		      "a peer's text loses its control characters");
		check(!strcmp(str_printable(out, 4, "abcdef", 6), "abc"),
		      "a peer's text is cut to the buffer");
	}

	snprintf(bad, sizeof(bad), "%s/short", tmproot);
	f = fopen(bad, "w");
	fputs("rtcr-key-v1 0123\n", f);
	fclose(f);
	chmod(bad, 0600);
	check(stream_key_load(bad, k1) == -EINVAL, "a short key file is refused");
	f = fopen(bad, "w");
	fprintf(f, "rtcr-key-v1 %064d\n", 0);
	fclose(f);
	check(stream_key_load(bad, k1) == 0, "a key file of zeros in the right format loads");
	f = fopen(bad, "w");
	fprintf(f, "rtcr-key-v1 %063dX\n", 0);
	fclose(f);
	check(stream_key_load(bad, k1) == -EINVAL, "a non-hex digit is refused");
	f = fopen(bad, "w");
	fprintf(f, "rtcr-key-v2 %064d\n", 0);
	fclose(f);
	check(stream_key_load(bad, k1) == -EINVAL, "another format version is refused");
	check(stream_key_load(tmproot, k1) == -EINVAL, "a directory is refused");
	snprintf(bad, sizeof(bad), "%s/missing", tmproot);
	check(stream_key_load(bad, k1) == -ENOENT, "a missing key file: -ENOENT");
}

int main(void)
{
	int64_t t0 = now_ms();

	signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test: stream must never raise it */
	if (!mkdtemp(tmproot)) {
		perror("mkdtemp");
		return 1;
	}
	log_set_fd(-1); /* errors are expected: shown from log_last_error() */
	fill(key1, sizeof(key1), 1);
	fill(key2, sizeof(key2), 2);

	test_key_files();
	test_round_trip("aes256gcm");
	test_round_trip("chacha20poly1305");
	test_concurrent();
	test_wrong_key();
	test_cipher_mismatch();
	test_raw(RAW_RANDOM, TMO, -EPROTO, "a peer that sends random bytes", "wrong greeting");
	test_raw(RAW_VERSION, TMO, -EPROTO, "a peer of another protocol version", "version 99");
	test_raw(RAW_BAD_PROOF, TMO, -EACCES, "a peer with a made-up proof",
		 "did not prove it holds the key");
	test_raw(RAW_SILENT, 300, -ETIMEDOUT, "a peer silent in the handshake", "handshake");
	test_raw(RAW_SLOW, 300, -ETIMEDOUT, "a peer that trickles the handshake", "handshake");
	test_tamper(TAMPER_NONE, 3, -ECONNRESET, "through an honest proxy");
	test_tamper(TAMPER_FLIP, 1, -EPROTO, "a flipped ciphertext bit");
	test_tamper(TAMPER_REPLAY, 1, -EPROTO, "a replayed frame");
	test_tamper(TAMPER_REORDER, 0, -EPROTO, "two frames swapped");
	test_tamper(TAMPER_BIGLEN, 0, -EPROTO, "a too-large length prefix");
	test_tamper(TAMPER_TRUNCATE, 0, -ECONNRESET, "a frame cut short");
	test_tamper(TAMPER_REPLAY_SESSION, 3, -ECONNRESET, "recording a session");
	test_timeouts();
	test_refused();
	test_ipv6_and_names();
	test_hangup();
	test_shutdown();

	{
		char *cmd;

		if (asprintf(&cmd, "rm -rf '%s'", tmproot) >= 0) {
			if (system(cmd)) {
				/* left behind in /tmp */
			}
			free(cmd);
		}
	}
	printf("# %lld ms\n", (long long)(now_ms() - t0));
	return tap_done();
}
