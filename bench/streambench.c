/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Throughput of the migration stream (src/migrate/stream.c) over loopback
 * TCP against raw TCP: a forked receiver, TOTAL bytes in messages of MSG
 * bytes, the median of RUNS runs for raw TCP and for the stream with each
 * cipher this CPU has. Also the speed of each cipher alone (encrypting in
 * memory, one core), which bounds what the stream can do.
 *
 *   streambench [-t TOTAL_MIB] [-m MSG_KIB] [-r RUNS]     (default 1024, 1024, 5)
 *
 * A run is timed from the first byte sent to the receiver's acknowledgement
 * that it has everything (and, for the stream, has decrypted it).
 */
#define LOG_PREFIX "streambench: "
#include "base/log.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "migrate/stream.h"

#define MAX_RUNS 51

static size_t total = 1024u << 20, msg = 1u << 20;
static int runs = 5;
static uint8_t key[STREAM_KEY_BYTES];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what)
{
	fprintf(stderr, "streambench: %s: %s\n", what, *log_last_error() ? log_last_error() : "");
	exit(1);
}

/* ---- raw TCP ---- */

static void raw_receiver(int lfd)
{
	uint8_t *buf = malloc(msg);
	size_t got = 0;
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0 || !buf)
		_exit(1);
	while (got < total) {
		ssize_t n = read(fd, buf, msg);

		if (n <= 0)
			_exit(1);
		got += n;
	}
	if (write(fd, "k", 1) != 1)
		_exit(1);
	close(fd);
	_exit(0);
}

static double run_raw(uint8_t *data)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd, one = 1;
	double t0, t;
	pid_t pid;
	char ack;

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len))
		die("raw listen");
	pid = fork();
	if (pid == 0)
		raw_receiver(lfd);
	close(lfd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("raw connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* as the stream does */
	t0 = now();
	for (size_t sent = 0; sent < total;) {
		size_t n = total - sent < msg ? total - sent : msg, done = 0;

		while (done < n) {
			ssize_t w = send(fd, data + done, n - done, MSG_NOSIGNAL);

			if (w <= 0)
				die("raw send");
			done += w;
		}
		sent += n;
	}
	if (read(fd, &ack, 1) != 1)
		die("raw ack");
	t = now() - t0;
	close(fd);
	waitpid(pid, NULL, 0);
	return t;
}

/* ---- the stream ---- */

static void stream_receiver(int lfd)
{
	struct stream *s;
	size_t got = 0;

	if (stream_accept(lfd, key, 30000, &s) < 0)
		_exit(1);
	while (got < total) {
		const void *buf;
		uint32_t type;
		size_t len;

		if (stream_recv(s, &type, &buf, &len) < 0)
			_exit(1);
		got += len;
	}
	if (stream_send(s, 2, "k", 1) < 0)
		_exit(1);
	stream_close(s);
	_exit(0);
}

static double run_stream(uint8_t *data, double *overhead)
{
	const void *buf;
	uint32_t type;
	size_t len;
	struct stream *s;
	char addr[64];
	double t0, t;
	pid_t pid;
	int lfd;

	if (stream_listen("127.0.0.1:0", &lfd) < 0)
		die("stream_listen");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", stream_listen_port(lfd));
	pid = fork();
	if (pid == 0)
		stream_receiver(lfd);
	close(lfd);
	if (stream_connect(addr, key, 30000, &s) < 0)
		die("stream_connect");
	t0 = now();
	for (size_t sent = 0; sent < total;) {
		size_t n = total - sent < msg ? total - sent : msg;

		if (stream_send(s, 1, data, n) < 0)
			die("stream_send");
		sent += n;
	}
	if (stream_recv(s, &type, &buf, &len) < 0)
		die("stream ack");
	t = now() - t0;
	*overhead = (double)stream_bytes_sent(s) / total - 1;
	stream_close(s);
	waitpid(pid, NULL, 0);
	return t;
}

/* ---- the ciphers alone ---- */

static double cipher_alone(bool aes, uint8_t *data)
{
	static crypto_aead_aes256gcm_state st __attribute__((aligned(16)));
	uint8_t nonce[12] = {0}, tag[16];
	size_t n = msg < total ? msg : total;
	size_t count = total / n > 256 ? 256 : total / n;
	double t0 = now();

	crypto_aead_aes256gcm_beforenm(&st, key);
	for (size_t i = 0; i < count; i++) {
		nonce[0] = (uint8_t)i;
		nonce[1] = (uint8_t)(i >> 8);
		if (aes)
			crypto_aead_aes256gcm_encrypt_detached_afternm(data, tag, NULL, data, n,
								       NULL, 0, NULL, nonce, &st);
		else
			crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			    data, tag, NULL, data, n, NULL, 0, NULL, nonce, key);
	}
	return count * n / 1e6 / (now() - t0);
}

int main(int argc, char **argv)
{
	static const char *const ciphers[] = {"aes256gcm", "chacha20poly1305"};
	double times[MAX_RUNS], raw, mbs[2] = {0}, overhead = 0;
	uint8_t *data;
	int opt;

	while ((opt = getopt(argc, argv, "t:m:r:")) != -1) {
		switch (opt) {
		case 't':
			total = strtoull(optarg, NULL, 0) << 20;
			break;
		case 'm':
			msg = strtoull(optarg, NULL, 0) << 10;
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: streambench [-t TOTAL_MIB] [-m MSG_KIB] [-r RUNS]\n");
			return 2;
		}
	}
	if (!total || !msg || msg > STREAM_MAX_MSG || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "streambench: bad sizes (message up to %u KiB, 1..%d runs)\n",
			STREAM_MAX_MSG >> 10, MAX_RUNS);
		return 2;
	}
	if (sodium_init() < 0)
		die("sodium_init");
	data = malloc(msg);
	if (!data)
		die("malloc");
	randombytes_buf(data, msg);
	randombytes_buf(key, sizeof(key));

	printf("streambench: %zu MiB in %zu KiB messages over loopback TCP, median of %d runs\n",
	       total >> 20, msg >> 10, runs);
	for (int i = 0; i < runs; i++)
		times[i] = run_raw(data);
	raw = total / 1e6 / median(times, runs);
	printf("  %-26s %8.0f MB/s\n", "raw TCP", raw);
	for (int c = 0; c < 2; c++) {
		char label[64];

		if (stream_set_cipher(ciphers[c]) < 0) {
			printf("  stream %-19s not available on this CPU\n", ciphers[c]);
			continue;
		}
		for (int i = 0; i < runs; i++)
			times[i] = run_stream(data, &overhead);
		mbs[c] = total / 1e6 / median(times, runs);
		snprintf(label, sizeof(label), "stream %s", ciphers[c]);
		printf("  %-26s %8.0f MB/s   stream/raw %.2f   (framing +%.4f%%)\n", label, mbs[c],
		       mbs[c] / raw, overhead * 100);
	}
	printf("  cipher alone, one core, encrypting %zu KiB messages:\n", msg >> 10);
	for (int c = 0; c < 2; c++) {
		if (c == 0 && !crypto_aead_aes256gcm_is_available())
			continue;
		printf("    %-24s %8.0f MB/s\n", ciphers[c], cipher_alone(c == 0, data));
	}
	stream_set_cipher("auto");
	printf("  auto picks: %s\n",
	       crypto_aead_aes256gcm_is_available() ? "aes256gcm" : "chacha20poly1305");
	free(data);
	return 0;
}
