/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness of the image decoder: img_parse() on the input as is,
 * then on a copy whose header length and checksum are fixed up to match
 * (so that mutations reach the protobuf decoder and the validator instead
 * of stopping at the checksum), and the description of whatever was
 * accepted (img_show_meta, text and JSON) into /dev/null.
 * Build and run: make fuzz [FUZZ_SECONDS=60].
 */
#define LOG_PREFIX "fuzz: "
#include "base/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "image/image.h"
#include "image/internal.h"

/* Every run of the seeds lies in the first 64 MiB of pages.img. */
#define FUZZ_PAGES_SIZE (64ULL << 20)

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_fd(-1);
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	return 0;
}

static void parse_and_show(const uint8_t *data, size_t size)
{
	Rtcr__Image *m = NULL;

	if (img_parse(data, size, FUZZ_PAGES_SIZE, &m))
		return;
	img_show_meta(m, NULL, "fuzz", devnull, false);
	img_show_meta(m, NULL, "fuzz", devnull, true);
	rtcr__image__free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	parse_and_show(data, size);
	if (size < IMG_HDR_SIZE)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	le_put64(copy + IMG_HDR_OFF_LEN, size - IMG_HDR_SIZE);
	le_put64(copy + IMG_HDR_OFF_SUM, XXH3_64bits(copy + IMG_HDR_SIZE, size - IMG_HDR_SIZE));
	parse_and_show(copy, size);
	free(copy);
	return 0;
}
