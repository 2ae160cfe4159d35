/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One ancillary message (SCM_RIGHTS with descriptors, SCM_CREDENTIALS) in
 * a msghdr: the control socket, the restore's descriptor passing and the
 * launch handshake all send one.
 */
#ifndef RTCR_BASE_SCM_H
#define RTCR_BASE_SCM_H

#include <string.h>
#include <sys/socket.h>

/* Attach one control message of `type` (SOL_SOCKET) carrying len bytes of
 * data to mh, in cbuf (at least CMSG_SPACE(len) bytes, zeroed here). */
static inline void scm_attach(struct msghdr *mh, void *cbuf, size_t cbuf_len, int type,
			      const void *data, size_t len)
{
	struct cmsghdr *cm;

	memset(cbuf, 0, cbuf_len);
	mh->msg_control = cbuf;
	mh->msg_controllen = CMSG_SPACE(len);
	cm = CMSG_FIRSTHDR(mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(cm), data, len);
}

#endif
