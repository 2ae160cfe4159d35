/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark baseline: tcpcopy recv PORT | tcpcopy send HOST PORT MIB
 * A raw TCP copy of MIB MiB, the most a migration over the same link could
 * do: the migration benchmark compares itself with it.
 *
 *   recv PORT           listens on PORT (all addresses, IPv6 and IPv4; 0:
 *                       any free port), prints "READY <port>", accepts one
 *                       connection and reads until the sender closes, then
 *                       prints "RECV <bytes> <seconds> <MB/s>" (from accept
 *                       to end of file; MB = 10^6 bytes; seconds with 6
 *                       decimals, MB/s with 1) and exits 0
 *   send HOST PORT MIB  connects, writes MIB MiB in 1 MiB write(2)s, shuts
 *                       its side down and waits for the receiver to close
 *                       (so that the time covers the delivery of the last
 *                       byte), prints "SENT <bytes> <seconds>" (from
 *                       connected to the receiver's close) and exits 0
 * Times from CLOCK_MONOTONIC. Errors go to stderr, exit status 1 (2: usage).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define CHUNK (1024 * 1024)

static char buf[CHUNK];

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("tcpcopy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long parse_num(const char *s, long max, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < 0 || v > max) {
		fprintf(stderr, "tcpcopy: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static int do_recv(int port)
{
	int one = 1, zero = 0, ls;
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	ls = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls >= 0) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_any;
		a->sin6_port = htons((uint16_t)port);
		sl = sizeof(*a);
	} else { /* no IPv6 here */
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (ls < 0)
			die("socket: %s", strerror(errno));
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_ANY);
		a->sin_port = htons((uint16_t)port);
		sl = sizeof(*a);
	}
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&ss, sl) < 0)
		die("bind port %d: %s", port, strerror(errno));
	if (listen(ls, 1) < 0)
		die("listen: %s", strerror(errno));
	sl = sizeof(ss);
	if (getsockname(ls, (struct sockaddr *)&ss, &sl) < 0)
		die("getsockname: %s", strerror(errno));
	port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
	say("READY %d", port);

	int c;
	while ((c = accept4(ls, NULL, NULL, SOCK_CLOEXEC)) < 0)
		if (errno != EINTR)
			die("accept: %s", strerror(errno));
	double t0 = now_s();
	uint64_t total = 0;
	for (;;) {
		ssize_t r = read(c, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read: %s", strerror(errno));
		if (r == 0)
			break;
		total += (uint64_t)r;
	}
	double dt = now_s() - t0;
	close(c);
	close(ls);
	say("RECV %llu %.6f %.1f", (unsigned long long)total, dt,
	    dt > 0 ? (double)total / 1e6 / dt : 0.0);
	return 0;
}

static int do_send(const char *host, const char *port, long mib)
{
	struct addrinfo hints, *ai, *p;
	int s = -1, err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	err = getaddrinfo(host, port, &hints, &ai);
	if (err)
		die("%s port %s: %s", host, port, gai_strerror(err));
	for (p = ai; p; p = p->ai_next) {
		s = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
		if (s < 0)
			continue;
		if (connect(s, p->ai_addr, p->ai_addrlen) == 0)
			break;
		err = errno;
		close(s);
		s = -1;
		errno = err;
	}
	freeaddrinfo(ai);
	if (s < 0)
		die("connect to %s port %s: %s", host, port, strerror(errno));

	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < sizeof(buf) / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i * 8, &x, 8);
	}

	double t0 = now_s();
	uint64_t total = 0;
	for (long m = 0; m < mib; m++) {
		size_t off = 0;
		while (off < sizeof(buf)) {
			ssize_t w = write(s, buf + off, sizeof(buf) - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				die("write: %s", strerror(errno));
			off += (size_t)w;
		}
		total += sizeof(buf);
	}
	if (shutdown(s, SHUT_WR) < 0)
		die("shutdown: %s", strerror(errno));
	for (;;) { /* the receiver closes once it has read everything */
		char c;
		ssize_t r = read(s, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("waiting for the receiver to close: %s", strerror(errno));
		if (r == 0)
			break;
	}
	double dt = now_s() - t0;
	close(s);
	say("SENT %llu %.6f", (unsigned long long)total, dt);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "recv"))
		return do_recv((int)parse_num(argv[2], 65535, "port"));
	if (argc == 5 && !strcmp(argv[1], "send")) {
		parse_num(argv[3], 65535, "port");
		return do_send(argv[2], argv[3], parse_num(argv[4], 1L << 30, "size (MiB)"));
	}
	fprintf(stderr, "usage: tcpcopy recv PORT\n       tcpcopy send HOST PORT MIB\n");
	return 2;
}
