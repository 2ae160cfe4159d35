/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rtcr-stub: the empty child a restore starts from. It is exec'd in the
 * new namespaces with the recorded pid, seized at its exec stop, and from
 * there rebuilt entirely by the parent through injected system calls; it
 * never runs more than this loop. No libc, no data: a few bytes of text,
 * linked far from where programs live (see the Makefile).
 */
void _start(void) __attribute__((noreturn, naked));

void _start(void)
{
	__asm__ volatile("1: mov $34, %eax\n\t" /* pause() */
			 "syscall\n\t"
			 "jmp 1b\n\t");
}
