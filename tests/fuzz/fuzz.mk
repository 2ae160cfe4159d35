# Fuzzing the image decoder (src/image/) with libFuzzer.
#   make fuzz [FUZZ_SECONDS=60]   build build/fuzz/fuzz_image and run it for a bounded time
#                                 on build/fuzz/corpus, seeded from tests/fuzz/seeds/
#   make fuzz-seeds               regenerate tests/fuzz/seeds/ (tests/fuzz/gen_seeds.c)
# Crashes are saved as build/fuzz/crash-*; replay one with build/fuzz/fuzz_image FILE.
# Needs clang and its fuzzer runtime (Debian: clang, libclang-rt-14-dev).
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZ_CFLAGS  := -g -O1 -std=gnu11 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -D_GNU_SOURCE -Iinclude -Isrc -I$(BUILD)/gen
FUZZ_SRCS    := $(sort $(wildcard src/image/*.c)) $(wildcard src/base/*.c)
FUZZ_LIBS    := -lprotobuf-c -lxxhash -lpthread

$(FUZZ_BUILD)/fuzz_image: tests/fuzz/fuzz_image.c $(FUZZ_SRCS) $(wildcard src/image/*.h) \
                          src/base/log.h $(PROTO_C)
	@mkdir -p $(FUZZ_BUILD)
	for f in $(PROTO_C); do $(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-everything -c \
	  -o $(FUZZ_BUILD)/$$(basename $$f .c).o $$f || exit 1; done
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -Wno-unused-parameter -Werror -o $@ \
	  tests/fuzz/fuzz_image.c $(FUZZ_SRCS) $(PROTO_C:$(BUILD)/gen/proto/%.c=$(FUZZ_BUILD)/%.o) \
	  $(FUZZ_LIBS)

fuzz: $(FUZZ_BUILD)/fuzz_image
	@mkdir -p $(FUZZ_BUILD)/corpus
	$(FUZZ_BUILD)/fuzz_image -max_total_time=$(FUZZ_SECONDS) -max_len=32768 -timeout=10 \
	  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ \
	  $(FUZZ_BUILD)/corpus tests/fuzz/seeds

$(FUZZ_BUILD)/gen_seeds: tests/fuzz/gen_seeds.c $(FUZZ_SRCS) $(wildcard src/image/*.h) $(PROTO_O)
	@mkdir -p $(FUZZ_BUILD)
	$(CC) $(CFLAGS) -o $@ tests/fuzz/gen_seeds.c $(FUZZ_SRCS) $(PROTO_O) $(FUZZ_LIBS)

fuzz-seeds: $(FUZZ_BUILD)/gen_seeds
	@mkdir -p tests/fuzz/seeds
	$(FUZZ_BUILD)/gen_seeds tests/fuzz/seeds

.PHONY: fuzz fuzz-seeds
