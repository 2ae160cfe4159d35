/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the registry of resource kinds (src/sessions/registry.c):
 * every value of the FileKind enum (proto/rtcr.proto) has exactly one
 * descriptor kind, named after it, whose kind is its index; lookups of
 * values outside the enum find nothing; the session kinds have unique
 * names and valid phases, and the dump order holds each kind that dumps
 * exactly once.
 */
#define LOG_PREFIX "test: "
#include "base/log.h"
#include "tests/unit/tap.h"

#include <limits.h>
#include <string.h>

#include "sessions/files.h"
#include "sessions/registry.h"

static void test_fd_kinds(void)
{
	const ProtobufCEnumDescriptor *d = &rtcr__file_kind__descriptor;

	check(fd_nkinds == d->n_values, "%zu descriptor kinds for the %u values of FileKind",
	      fd_nkinds, d->n_values);
	for (unsigned i = 0; i < d->n_values; i++) {
		const ProtobufCEnumValue *v = &d->values[i];
		size_t holders = 0;

		check(v->value >= 0 && (size_t)v->value < fd_nkinds && fd_kinds[v->value].ops,
		      "FileKind %s (%d) has an entry", v->name, v->value);
		if (v->value < 0 || (size_t)v->value >= fd_nkinds || !fd_kinds[v->value].ops)
			continue;
		check(fd_kinds[v->value].name && !strcmp(fd_kinds[v->value].name, v->name),
		      "entry %d is named %s (%s)", v->value, v->name,
		      fd_kinds[v->value].name ? fd_kinds[v->value].name : "no name");
		check((int)fd_kinds[v->value].ops->kind == v->value,
		      "entry %d (%s): its kind is %d", v->value, v->name,
		      (int)fd_kinds[v->value].ops->kind);
		check(fd_kind_ops((Rtcr__FileKind)v->value) == fd_kinds[v->value].ops,
		      "fd_kind_ops(%s) finds its entry", v->name);
		check(fd_kinds[v->value].ops->name && fd_kinds[v->value].ops->name[0] &&
			  fd_kinds[v->value].ops->match && fd_kinds[v->value].ops->open,
		      "%s: a name, match() and open()", v->name);
		for (size_t k = 0; k < fd_nkinds; k++)
			if (fd_kinds[k].ops && (int)fd_kinds[k].ops->kind == v->value)
				holders++;
		check(holders == 1, "%s: %zu entries of this kind", v->name, holders);
	}
	for (size_t k = 0; k < fd_nkinds; k++)
		check(protobuf_c_enum_descriptor_get_value(d, (int)k) != NULL,
		      "entry %zu is a value of FileKind", k);
	check(fd_kind_ops((Rtcr__FileKind)-1) == NULL, "fd_kind_ops(-1) finds nothing");
	check(fd_kind_ops((Rtcr__FileKind)fd_nkinds) == NULL, "fd_kind_ops(%zu) finds nothing",
	      fd_nkinds);
	check(fd_kind_ops((Rtcr__FileKind)INT_MAX) == NULL, "fd_kind_ops(INT_MAX) finds nothing");
}

static void test_session_kinds(void)
{
	size_t ndump = 0, nlisted = 0;

	check(session_nkinds > 0, "%zu session kinds", session_nkinds);
	for (size_t i = 0; i < session_nkinds; i++) {
		const struct session_ops *o = session_kinds[i].ops;
		size_t same = 0, listed = 0;

		check(o && o->name && o->name[0], "session kind %zu has ops and a name", i);
		if (!o || !o->name)
			continue;
		for (size_t j = 0; j < session_nkinds; j++)
			if (session_kinds[j].ops && session_kinds[j].ops->name &&
			    !strcmp(session_kinds[j].ops->name, o->name))
				same++;
		check(same == 1, "session kind %s: its name is unique (%zu)", o->name, same);
		check((int)o->phase >= 0 && o->phase < RST_NPHASES, "session kind %s: phase %d",
		      o->name, (int)o->phase);
		check(o->restore != NULL, "session kind %s restores", o->name);
		check(!o->dump == !session_kinds[i].dump_step,
		      "session kind %s: a dump step (%u) if and only if it dumps", o->name,
		      session_kinds[i].dump_step);
		same = 1;
		for (size_t j = 0; j < session_nkinds; j++)
			if (j != i && session_kinds[i].dump_step &&
			    session_kinds[j].dump_step == session_kinds[i].dump_step)
				same++;
		check(same == 1, "session kind %s: its dump step %u is unique", o->name,
		      session_kinds[i].dump_step);
		for (size_t k = 0; k < session_nkinds && session_dump_kind(k); k++)
			if (session_dump_kind(k) == &session_kinds[i])
				listed++;
		check(listed == (o->dump ? 1U : 0U),
		      "session kind %s: %zu time(s) in the dump order", o->name, listed);
		if (o->dump)
			ndump++;
	}
	for (size_t k = 0; session_dump_kind(k); k++) {
		nlisted++;
		if (k > session_nkinds)
			break;
	}
	check(nlisted == ndump, "the dump order has %zu kinds, %zu kinds dump", nlisted, ndump);
	check(session_dump_kind(session_nkinds) == NULL, "nothing past the dump order");
}

int main(void)
{
	test_fd_kinds();
	test_session_kinds();
	return tap_done();
}
