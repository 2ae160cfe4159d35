/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An authenticated, encrypted message stream over TCP between two nodes
 * that share a 32-byte key (a key file made by `rtcr keygen`), for
 * migration (rtcr serve / rtcr migrate).
 *
 * Protocol (version 1), after the TCP connection is made:
 *
 *   hello   each side sends 44 bytes: "RTCRSTRM", version (1), role
 *           (0 connecting, 1 accepting), the ciphers it offers (bit 0
 *           ChaCha20-Poly1305-IETF, bit 1 AES-256-GCM), 0, and 32 random
 *           bytes. The magic and version are checked first, so that a
 *           peer of another version gets a clear error.
 *   keys    prk = BLAKE2b-256 keyed with the key, over "rtcr stream v1"
 *           and both hellos (the connecting side's first); from prk
 *           (crypto_kdf, context "rtcrstrm") subkey 1 encrypts from the
 *           connecting side, 2 from the accepting side, and 3 and 4 are
 *           the proofs of the connecting and the accepting side.
 *   proof   each side sends its 32-byte proof, then checks the peer's.
 *           Fresh random bytes from both sides: a recorded session cannot
 *           be replayed. The hellos (and so the cipher offers) are under
 *           the proof: a downgrade is caught.
 *   cipher  AES-256-GCM if both sides offer it (libsodium has it only with
 *           AES-NI and PCLMUL), else ChaCha20-Poly1305-IETF. AES-256-GCM
 *           was measured faster on 1 MiB messages (bench/streambench.c).
 *   frames  one message = one frame:
 *             length (4 bytes, big-endian: bytes that follow, = 4 + n + 16)
 *             AEAD(type (4 bytes, big-endian) || payload (n bytes)) || tag (16)
 *           with the length as associated data and, as nonce, a counter per
 *           direction (64-bit little-endian, then 4 zero bytes) starting at
 *           0: a frame that is altered, reordered, replayed, or cut off
 *           fails. The length is checked against STREAM_MAX_MSG before
 *           anything is allocated or read.
 *
 * Every function returns 0 (or a count) or a negative errno, and logs the
 * cause once (pr_err) where it is known.
 *
 * Threads: one thread may send while another receives on the same stream
 * (the two directions share nothing but the socket). Two threads sending at
 * once (or receiving at once) is allowed too (each direction has a lock),
 * but their messages are then interleaved in an unspecified order.
 * stream_close must not race with anything else on the stream;
 * stream_shutdown may (it is how one thread wakes up another blocked in
 * stream_recv).
 */
#ifndef RTCR_STREAM_H
#define RTCR_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define STREAM_KEY_BYTES 32
#define STREAM_MAX_MSG	 (8u << 20) /* largest payload of one message */
/* Bytes a message costs on the wire on top of its payload: length, type, tag. */
#define STREAM_FRAME_OVERHEAD 24u
/* How long a handshake may take when connect/accept are given no timeout. */
#define STREAM_HANDSHAKE_DEFAULT_MS 10000

/* ---- key files ----
 * Format: one line, exactly 77 bytes: "rtcr-key-v1 " then the key as 64
 * lowercase hex digits, then "\n". Mode 0600. */

/* Write a new random key into path (created with O_EXCL, mode 0600).
 * -EEXIST (logged) if path exists. */
int stream_keygen(const char *path);
/* The same, but an existing path is replaced (atomically: a new file is
 * written next to it and renamed over it). */
int stream_keygen_replace(const char *path);
/* Read a key file. Refused (-EACCES, logged) if group or others have any
 * permission on it; -EINVAL (logged) if it is not a regular file of exactly
 * the format above. */
int stream_key_load(const char *path, uint8_t key[STREAM_KEY_BYTES]);

/* ---- connections ----
 * hostport: "HOST:PORT" where HOST is an IPv4 address, "[IPv6]" or a name
 * (getaddrinfo), PORT a number or a service name. For stream_listen, HOST
 * may be empty or "*" (":7000"): every address (IPv6 and IPv4 if the
 * system can, else IPv4). */

struct stream;

/* A listening socket (CLOEXEC, non-blocking, SO_REUSEADDR) in *lfd. Port 0
 * picks a free port: see stream_listen_port. */
int stream_listen(const char *hostport, int *lfd);
/* The port a listening (or any bound) socket is on, or a negative errno. */
int stream_listen_port(int lfd);
/*
 * Connect and do the handshake. timeout_ms bounds each connection attempt
 * and, separately, the whole handshake (0: the attempt waits as long as the
 * kernel does, the handshake up to STREAM_HANDSHAKE_DEFAULT_MS); it is also
 * the stream's initial send/recv timeout (0 = none), see stream_set_timeout.
 * Errors: the getaddrinfo or connect failure (-ECONNREFUSED "connect to
 * HOST:PORT: Connection refused", -ETIMEDOUT, ...), -EACCES if either side
 * does not hold the key ("peer 1.2.3.4:5678 did not prove it holds the
 * key"), -EPROTO if the peer does not speak this protocol or version.
 */
int stream_connect(const char *hostport, const uint8_t key[STREAM_KEY_BYTES], int timeout_ms,
		   struct stream **out);
/*
 * Wait up to timeout_ms (0: forever) for a connection on lfd, then do the
 * handshake within timeout_ms (0: STREAM_HANDSHAKE_DEFAULT_MS); timeout_ms
 * is also the stream's initial send/recv timeout. A client that fails the
 * handshake makes this return its error (-EACCES, -EPROTO, -ECONNRESET,
 * -ETIMEDOUT...); lfd stays usable, so a server loops on it.
 */
int stream_accept(int lfd, const uint8_t key[STREAM_KEY_BYTES], int timeout_ms,
		  struct stream **out);

/* ---- messages ---- */

/* Send one message of len <= STREAM_MAX_MSG bytes (-EMSGSIZE otherwise),
 * with a type for the caller's use. Blocks until it is all handed to the
 * kernel. */
int stream_send(struct stream *s, uint32_t type, const void *buf, size_t len);
/* The same with the payload gathered from iov: one message. */
int stream_sendv(struct stream *s, uint32_t type, const struct iovec *iov, int iovcnt);
/*
 * Receive one message: its type, payload and length. *buf points into the
 * stream's own buffer (16-byte aligned), valid until the next stream_recv
 * on this stream. Errors: -ECONNRESET if the peer closed the connection
 * ("HOST:PORT closed the connection"), -EPROTO for a frame that is too long
 * or fails authentication (the receiving direction is then unusable),
 * -ETIMEDOUT (the stream stays usable: a message cut by the timeout is
 * resumed by the next call), -ECANCELED after stream_shutdown.
 */
int stream_recv(struct stream *s, uint32_t *type, const void **buf, size_t *len);
/*
 * Timeout for stream_send and stream_recv: -ETIMEDOUT after timeout_ms
 * without progress (0 = none). Also sets the socket's TCP_USER_TIMEOUT
 * (unacknowledged data) and keepalive (an idle connection) so that a cut
 * link is noticed by the kernel within about that time too. A send that
 * times out after part of its frame went out leaves the sending direction
 * unusable (-EPIPE afterwards); one that sent nothing does not.
 */
void stream_set_timeout(struct stream *s, int timeout_ms);
/*
 * Wake up and fail (-ECANCELED, not logged as an error) every send or recv
 * blocked on this stream, and any later ones; the peer sees the connection
 * closed. Safe to call from another thread while they run. stream_close is
 * still needed.
 */
void stream_shutdown(struct stream *s);
/* The socket, to poll() for POLLIN (a message may be arriving) before
 * stream_recv. Do not read or write it. */
int stream_fd(const struct stream *s);
/* The peer's address, "1.2.3.4:5678" or "[::1]:5678", for messages. */
const char *stream_peer(const struct stream *s);
/* The cipher agreed on: "aes256gcm" or "chacha20poly1305". */
const char *stream_cipher(const struct stream *s);
/* Bytes written to / read from the socket, handshake and framing included
 * (what TCP carries as payload). */
uint64_t stream_bytes_sent(const struct stream *s);
uint64_t stream_bytes_received(const struct stream *s);
/* Close the socket and free everything (keys are wiped). NULL is allowed. */
void stream_close(struct stream *s);

/*
 * The ciphers this process offers in later handshakes: "auto" (the
 * default: both if AES-256-GCM is available, else ChaCha20-Poly1305),
 * "aes256gcm" or "chacha20poly1305" (for benchmarks and tests). -EINVAL if
 * unknown, -ENOTSUP if this CPU lacks it. Two peers that offer nothing in
 * common fail the handshake with -EPROTO.
 */
int stream_set_cipher(const char *name);

#endif
