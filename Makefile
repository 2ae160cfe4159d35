# rtcr build. `make` builds build/rtcr and build/librtcr.a.
CC      ?= gcc
BUILD   ?= build
CFLAGS  ?= -O2 -g
RTCR_VERSION ?= 0.1.0
CFLAGS  += -DRTCR_VERSION=\"$(RTCR_VERSION)\"
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -fno-strict-aliasing \
           -D_GNU_SOURCE -Iinclude -Isrc -I$(BUILD)/gen
LDLIBS  += -lprotobuf-c -lxxhash -lsodium -lpthread
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer

PROTOS  := $(sort $(wildcard proto/*.proto))
PROTO_C := $(PROTOS:%.proto=$(BUILD)/gen/%.pb-c.c)
PROTO_O := $(PROTO_C:.c=.o)
# The library: every part of src/ but the commands (src/cli) and the
# restore stub (src/core/stub, a program of its own).
LIB_DIRS := src/base src/core src/core/arch/x86_64 src/mem src/image src/sessions src/track \
            src/ckpt src/migrate src/control src/api
LIB_SRCS := $(sort $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
CLI_SRCS := $(sort $(wildcard src/cli/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(PROTO_O)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)

all: $(BUILD)/rtcr $(BUILD)/rtcr-stub

# all of proto/ at once: the files import each other
$(PROTO_C) $(PROTO_C:.c=.h) &: $(PROTOS)
	@mkdir -p $(BUILD)/gen
	protoc-c -I. --c_out=$(BUILD)/gen $(PROTOS)

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c
	$(CC) $(CFLAGS) -Wno-error -c -o $@ $<

$(BUILD)/%.o: %.c $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/librtcr.a: $(LIB_OBJS)
	rm -f $@; ar rcs $@ $^

$(BUILD)/rtcr: $(CLI_OBJS) $(BUILD)/librtcr.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJS) -Wl,--whole-archive $(BUILD)/librtcr.a \
	  -Wl,--no-whole-archive $(LDLIBS)

# The restore stub: a tiny static program with no libc, linked at an
# address far from where programs usually live.
$(BUILD)/rtcr-stub: src/core/stub/stub.c
	@mkdir -p $(BUILD)
	$(CC) -O2 -static -nostdlib -fno-stack-protector -fno-pie -no-pie -fcf-protection=none \
	  -Wl,-Ttext-segment=0x2f0000000000 -Wl,--build-id=none -o $@ $<

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

include tests/tests.mk
-include bench/bench.mk
-include tests/fuzz/fuzz.mk

# Static analysis: cppcheck and clang-tidy (quiet is the goal)
lint: $(PROTO_C)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -Iinclude -Isrc -I$(BUILD)/gen src/
	clang-tidy --quiet $(LIB_SRCS) $(CLI_SRCS) -- -std=gnu11 -D_GNU_SOURCE \
	  -DRTCR_VERSION=\"$(RTCR_VERSION)\" -Iinclude -Isrc -I$(BUILD)/gen

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan

.PHONY: all clean format lint check check-asan demo fuzz bench
