/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmsplit: MAP_SHARED|MAP_ANONYMOUS memory mapped in several pieces of
 * one object, shared with a child. An 8-page object P is filled, then the
 * process forks; the parent splits its mapping (mprotect of page 2 to
 * read-only, MADV_DONTDUMP on pages 4-5, munmap of page 7), the child its
 * own (mprotect of page 1 to read-only). A second object Q of 4 pages has
 * its first page unmapped (one piece at offset 0x1000).
 *
 * On SIGUSR1 the parent checks: each piece has its place, protection and
 * offset (/proc/self/maps lines as before), the pieces of P are one object
 * (one inode, not Q's), the data; a new mapping of the whole object (from
 * /proc/self/map_files of one piece) sees every page of P where the
 * pieces do, and writes through it show in the pieces; a word written
 * through the parent's piece is seen by the child in its piece, and the
 * child's answer (its own checks, and a write to page 7, which only the
 * child maps) comes back through the object.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "tgt.h"

#define PAGE 4096UL
#define NP   8

struct ctl {
	volatile uint32_t cmd, ack;
	volatile uint32_t token, echo;
};

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 31 + 7);
}

/* "start-end perms offset|" of every VMA in [lo, hi); *ino: the inode of
 * all of them (0 if they differ) */
static void pieces(char *lo, char *hi, char *out, size_t outlen, unsigned long *ino)
{
	unsigned long s, e, off, in;
	char line[512], perms[8];
	size_t o = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	out[0] = '\0';
	*ino = (unsigned long)-1;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s %lx %*x:%*x %lu", &s, &e, perms, &off, &in) != 5)
			continue;
		if (s < (unsigned long)lo || e > (unsigned long)hi)
			continue;
		*ino = *ino == (unsigned long)-1 || *ino == in ? in : 0;
		o += (size_t)snprintf(out + o, outlen - o, "%lx-%lx %s %lx|", s - (unsigned long)lo,
				      e - (unsigned long)lo, perms, off);
		if (o >= outlen)
			break;
	}
	fclose(f);
}

static bool wait_word(volatile uint32_t *w, uint32_t want, int ms)
{
	for (int i = 0; i < ms / 5 && *w != want; i++)
		tgt_sleep_ms(5);
	return *w == want;
}

static int child(char *p)
{
	struct ctl *ctl = (struct ctl *)p;
	char before[1024], now[1024];
	unsigned long ino;
	int bad = 0;

	if (mprotect(p + PAGE, PAGE, PROT_READ))
		return 2;
	pieces(p, p + NP * PAGE, before, sizeof(before), &ino);
	ctl->ack = 1;
	while (ctl->cmd != 1)
		tgt_sleep_ms(10);
	pieces(p, p + NP * PAGE, now, sizeof(now), &ino);
	if (strcmp(before, now) || !ino)
		bad |= 1;
	for (size_t i = PAGE; i < NP * PAGE; i++)
		if (i / PAGE != 3 && i / PAGE != 7 && (unsigned char)p[i] != pat(i)) {
			bad |= 2;
			break;
		}
	if (!wait_word(&ctl->token, 0x5eed, 2000))
		bad |= 4;
	ctl->echo = ctl->token + 1;
	p[7 * PAGE + 9] = 0x77; /* only the child maps page 7 */
	ctl->ack = 2 + (uint32_t)bad;
	return bad;
}

int main(void)
{
	char before_p[1024], before_q[1024], now[1024], path[128];
	unsigned long ino_p, ino_q;
	struct ctl *ctl;
	char *p, *q, *whole;
	int fd, st;
	pid_t kid;

	tgt_install_usr1();
	p = mmap(NULL, NP * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	q = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SETUP(p != MAP_FAILED && q != MAP_FAILED, "mmap");
	ctl = (struct ctl *)p;
	for (size_t i = PAGE; i < NP * PAGE; i++)
		p[i] = (char)pat(i);
	for (size_t i = 0; i < 4 * PAGE; i++)
		q[i] = (char)pat(i + 5);
	kid = fork();
	SETUP(kid >= 0, "fork");
	if (kid == 0)
		_exit(child(p));
	SETUP(wait_word(&ctl->ack, 1, 5000), "child setup");
	SETUP(mprotect(p + 2 * PAGE, PAGE, PROT_READ) == 0, "mprotect");
	SETUP(madvise(p + 4 * PAGE, 2 * PAGE, MADV_DONTDUMP) == 0, "madvise");
	SETUP(munmap(p + 7 * PAGE, PAGE) == 0 && munmap(q, PAGE) == 0, "munmap");
	pieces(p, p + NP * PAGE, before_p, sizeof(before_p), &ino_p);
	pieces(q, q + 4 * PAGE, before_q, sizeof(before_q), &ino_q);
	SETUP(ino_p && ino_q && ino_p != ino_q, "inodes");
	say("READY");
	tgt_wait_usr1();

	pieces(p, p + NP * PAGE, now, sizeof(now), &ino_p);
	CHECK(!strcmp(now, before_p), "pieces of P were %s now %s", before_p, now);
	pieces(q, q + 4 * PAGE, now, sizeof(now), &ino_q);
	CHECK(!strcmp(now, before_q), "piece of Q was %s now %s", before_q, now);
	CHECK(ino_p && ino_q && ino_p != ino_q,
	      "P's pieces are not one object apart from Q (%lu %lu)", ino_p, ino_q);
	for (size_t i = PAGE; i < 7 * PAGE; i++)
		if ((unsigned char)p[i] != pat(i)) {
			CHECK(0, "P byte %zu is %#x, want %#x", i, (unsigned char)p[i], pat(i));
			break;
		}
	for (size_t i = PAGE; i < 4 * PAGE; i++)
		if ((unsigned char)q[i] != pat(i + 5)) {
			CHECK(0, "Q byte %zu differs", i);
			break;
		}
	/* the child */
	ctl->cmd = 1;
	ctl->token = 0x5eed;
	CHECK(wait_word(&ctl->echo, 0x5eee, 5000), "the child did not answer through the object");
	CHECK(wait_word(&ctl->ack, 2, 5000), "child: its checks failed (ack %u)", ctl->ack);
	/* the whole object, through one of its pieces */
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)p + 3 * PAGE,
		 (unsigned long)p + 4 * PAGE);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	whole =
	    fd >= 0 ? mmap(NULL, NP * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	CHECK(whole != MAP_FAILED, "mmap the whole object: %s", strerror(errno));
	if (whole != MAP_FAILED) {
		CHECK(!memcmp(whole + PAGE, p + PAGE, 6 * PAGE),
		      "the object and its pieces differ (offsets lost?)");
		whole[2 * PAGE + 1] = 0x11;
		whole[5 * PAGE + 1] = 0x22;
		CHECK(p[2 * PAGE + 1] == 0x11 && p[5 * PAGE + 1] == 0x22,
		      "writes to the object do not show in its pieces");
		p[3 * PAGE] = 0x33;
	}
	if (whole != MAP_FAILED)
		CHECK(whole[7 * PAGE + 9] == 0x77,
		      "the child's write to page 7 is not in the parent's object");
	CHECK(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "child ended with status %#x", st);
	tgt_finish();
}
