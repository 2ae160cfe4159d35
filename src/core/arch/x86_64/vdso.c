/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define LOG_PREFIX "vdso: "
#include "core/arch/x86_64/vdso.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/inject.h"
#include "base/log.h"

int pb_push(void ***arr, size_t *n, void *item);

int vdso_symbols(pid_t pid, uint64_t start, uint64_t end, Rtcr__VdsoSym ***out, size_t *n)
{
	size_t len = end - start;
	unsigned char *img;
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	uint64_t base = 0;
	int ret = -EINVAL;

	*out = NULL;
	*n = 0;
	if (len < sizeof(Elf64_Ehdr) || len > (1 << 20))
		return -EINVAL;
	img = malloc(len);
	if (!img)
		return -ENOMEM;
	if (remote_read(pid, start, img, len))
		goto out;
	eh = (const Elf64_Ehdr *)img;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff >= len ||
	    eh->e_shnum > (len - eh->e_shoff) / sizeof(Elf64_Shdr) || eh->e_phoff >= len ||
	    eh->e_phnum > (len - eh->e_phoff) / sizeof(Elf64_Phdr)) {
		pr_err("the vDSO at 0x%llx is not an ELF image we understand",
		       (unsigned long long)start);
		goto out;
	}
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff) + i;

		if (ph->p_type == PT_LOAD) {
			base = ph->p_vaddr - ph->p_offset;
			break;
		}
	}
	sh = (const Elf64_Shdr *)(img + eh->e_shoff);
	ret = 0;
	for (int i = 0; i < eh->e_shnum && !ret; i++) {
		const Elf64_Shdr *strs;
		const Elf64_Sym *syms;
		size_t cnt;

		if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
			continue;
		strs = &sh[sh[i].sh_link];
		if (sh[i].sh_offset > len || sh[i].sh_size > len - sh[i].sh_offset ||
		    strs->sh_offset > len || strs->sh_size > len - strs->sh_offset)
			break;
		syms = (const Elf64_Sym *)(img + sh[i].sh_offset);
		cnt = sh[i].sh_size / sizeof(Elf64_Sym);
		for (size_t k = 0; k < cnt && !ret; k++) {
			Rtcr__VdsoSym *vs;
			const char *name;

			if (ELF64_ST_TYPE(syms[k].st_info) != STT_FUNC || !syms[k].st_value ||
			    syms[k].st_name >= strs->sh_size)
				continue;
			name = (const char *)img + strs->sh_offset + syms[k].st_name;
			if (!memchr(name, 0, strs->sh_size - syms[k].st_name))
				continue;
			vs = calloc(1, sizeof(*vs));
			if (!vs) {
				ret = -ENOMEM;
				break;
			}
			rtcr__vdso_sym__init(vs);
			vs->name = strdup(name);
			vs->has_offset = 1;
			vs->offset = syms[k].st_value - base;
			ret = pb_push((void ***)out, n, vs);
		}
	}
out:
	free(img);
	return ret;
}

int vdso_trampolines(Rtcr__VdsoSym *const *old, size_t nold, Rtcr__VdsoSym *const *cur, size_t ncur,
		     uint64_t new_base, unsigned char *buf, size_t len)
{
	size_t slots = 0;
	int done = 0;

	memset(buf, 0xcc, len); /* int3 everywhere else */
	for (size_t i = 0; i < nold; i++) {
		uint64_t off = old[i]->offset, target = 0, slot;
		int32_t disp;

		if (!old[i]->name || off + 6 > len)
			continue;
		for (size_t k = 0; k < ncur; k++) {
			if (cur[k]->name && !strcmp(cur[k]->name, old[i]->name)) {
				target = new_base + cur[k]->offset;
				break;
			}
		}
		if (!target) {
			pr_warn("vDSO function %s is missing on this kernel", old[i]->name);
			continue;
		}
		/* jmp *slot(%rip), the 8-byte slots filling the area from its end */
		slot = len - 8 * (++slots);
		if (slot < off + 6) {
			pr_err("vDSO too small for %zu trampolines", slots);
			return -ENOSPC;
		}
		memcpy(buf + slot, &target, 8);
		disp = (int32_t)(slot - (off + 6));
		buf[off] = 0xff;
		buf[off + 1] = 0x25;
		memcpy(buf + off + 2, &disp, 4);
		done++;
	}
	return done;
}
