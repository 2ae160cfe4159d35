/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * losses: what a restore cannot bring back, queued when checkpointed.
 *
 *   losses FILE     a UDP socket (fd 5, bound to 127.0.0.1) with 3
 *                   datagrams of 40 bytes sent to itself, not read; an
 *                   inotify descriptor (fd 6) watching FILE with 3 events
 *                   queued (modify, attrib, modify: 48 bytes), not read.
 *                   Prints "QUEUED" once they are there, then READY.
 *     SIGHUP:  read both queues away, print "DRAINED udp=N/BYTES ino=BYTES
 *              peek_off=V", queue them again, print QUEUED (the queues of
 *              a target whose checkpoint was refused are intact).
 *     SIGUSR2: (restored) both queues are empty (the old datagrams and
 *              events are gone), a new datagram and a new event arrive;
 *              then queue them again, print QUEUED (or FAIL lines).
 *     SIGUSR1: the same checks, then PASS or FAIL and exit.
 *   losses netlink  holds a NETLINK_ROUTE socket as fd 5; READY.
 *   losses packet   holds an AF_PACKET SOCK_DGRAM socket as fd 5 (or prints
 *                   "SKIP: ..." when it may not have one); READY.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "tgt.h"

#define UDP_FD 5
#define INO_FD 6
#define NDGRAM 3
#define DGRAM  40

static volatile sig_atomic_t got_hup, got_usr2;
static const char *file;
static int wd;

static void on_sig(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_usr2 = 1;
}

static void at_fd(int fd, int want, const char *what)
{
	SETUP(fd >= 0, what);
	if (fd != want) {
		SETUP(dup2(fd, want) == want, "dup2");
		close(fd);
	}
}

static void touch_file(bool attrib)
{
	int fd = open(file, O_WRONLY | O_APPEND);

	SETUP(fd >= 0, "open the watched file");
	SETUP(write(fd, "x", 1) == 1, "write the watched file");
	close(fd);
	if (attrib)
		SETUP(chmod(file, 0640) == 0 && chmod(file, 0644) == 0, "chmod");
}

static void queue_all(void)
{
	char buf[DGRAM];
	struct sockaddr_in me;
	socklen_t len = sizeof(me);

	SETUP(getsockname(UDP_FD, (struct sockaddr *)&me, &len) == 0, "getsockname");
	for (int i = 0; i < NDGRAM; i++) {
		memset(buf, 'a' + i, sizeof(buf));
		SETUP(sendto(UDP_FD, buf, sizeof(buf), 0, (struct sockaddr *)&me, len) == DGRAM,
		      "sendto self");
	}
	/* modify, attrib, modify: three events (identical neighbours would merge);
	 * the two chmods make one attrib event */
	touch_file(false);
	touch_file(true);
	touch_file(false);
	for (int i = 0; i < 100; i++) {
		int q = 0, n = 0;

		ioctl(INO_FD, FIONREAD, &q);
		ioctl(UDP_FD, FIONREAD, &n);
		if (q >= 48 && n > 0)
			break;
		tgt_sleep_ms(10);
	}
	say("QUEUED");
}

/* Read everything queued: datagrams (count, bytes), inotify bytes. */
static void drain(int *nd, int *bytes, int *ino)
{
	char buf[4096];
	ssize_t n;

	*nd = *bytes = *ino = 0;
	while ((n = recv(UDP_FD, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
		(*nd)++;
		*bytes += (int)n;
	}
	while ((n = read(INO_FD, buf, sizeof(buf))) > 0)
		*ino += (int)n;
}

/* Restored: the old queues are gone; new datagrams and events arrive. */
static void check_fresh(void)
{
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	char buf[4096];
	int nd, bytes, ino;
	ssize_t n = -1;

	drain(&nd, &bytes, &ino);
	CHECK(nd == 0, "%d old datagram(s) (%d bytes) are still queued after the restore", nd,
	      bytes);
	CHECK(ino == 0, "%d bytes of old inotify events are still queued after the restore", ino);
	SETUP(getsockname(UDP_FD, (struct sockaddr *)&me, &len) == 0, "getsockname");
	CHECK(sendto(UDP_FD, "new", 3, 0, (struct sockaddr *)&me, len) == 3, "send: %s",
	      strerror(errno));
	for (int i = 0; i < 100 && n < 0; i++) {
		n = recv(UDP_FD, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			tgt_sleep_ms(10);
	}
	CHECK(n == 3 && !memcmp(buf, "new", 3), "the new datagram did not arrive (%zd)", n);
	touch_file(false);
	n = -1;
	for (int i = 0; i < 100 && n <= 0; i++) {
		n = read(INO_FD, buf, sizeof(buf));
		if (n <= 0)
			tgt_sleep_ms(10);
	}
	CHECK(n == (ssize_t)sizeof(struct inotify_event), "no new inotify event (%zd)", n);
	if (n == (ssize_t)sizeof(struct inotify_event)) {
		struct inotify_event *ie = (struct inotify_event *)buf;

		CHECK(ie->wd == wd && (ie->mask & IN_MODIFY), "new event: wd %d mask 0x%x", ie->wd,
		      ie->mask);
	}
}

static int other(const char *mode)
{
	int fd;

	if (!strcmp(mode, "netlink"))
		fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	else {
		fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
		if (fd < 0) {
			say("SKIP: no AF_PACKET socket: %s", strerror(errno));
			for (;;)
				pause();
		}
	}
	at_fd(fd, UDP_FD, mode);
	say("READY");
	tgt_wait_usr1();
	tgt_finish();
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct sigaction sa;
	int fd;

	if (argc != 2) {
		say("ERROR: usage: losses FILE|netlink|packet");
		return 2;
	}
	tgt_install_usr1();
	if (!strcmp(argv[1], "netlink") || !strcmp(argv[1], "packet"))
		return other(argv[1]);
	file = argv[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	SETUP(sigaction(SIGHUP, &sa, NULL) == 0 && sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction");
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	SETUP(fd >= 0, "create the watched file");
	close(fd);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	at_fd(fd, UDP_FD, "UDP socket");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	SETUP(bind(UDP_FD, (struct sockaddr *)&a, sizeof(a)) == 0, "bind");
	fd = inotify_init1(IN_NONBLOCK);
	at_fd(fd, INO_FD, "inotify_init1");
	wd = inotify_add_watch(INO_FD, file, IN_MODIFY | IN_ATTRIB);
	SETUP(wd > 0, "inotify_add_watch");
	queue_all();
	say("READY");
	for (;;) {
		if (tgt_usr1) {
			check_fresh();
			tgt_finish();
		}
		if (got_hup) {
			int nd, bytes, ino, off = 0;
			socklen_t l = sizeof(off);

			got_hup = 0;
			getsockopt(UDP_FD, SOL_SOCKET, SO_PEEK_OFF, &off, &l);
			drain(&nd, &bytes, &ino);
			say("DRAINED udp=%d/%d ino=%d peek_off=%d", nd, bytes, ino, off);
			queue_all();
		}
		if (got_usr2) {
			got_usr2 = 0;
			check_fresh();
			queue_all();
		}
		tgt_sleep_ms(100);
	}
}
