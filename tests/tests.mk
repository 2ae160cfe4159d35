# Tests: included by the main Makefile.
#   make check       build everything, the test targets and unit tests; run
#                    the unit tests, then the integration suite (as root)
#   make check-asan  the same, built with AddressSanitizer+UBSan in build-asan/
#                    (the test targets and the restore stub stay uninstrumented)
#   make demo        a narrated checkpoint/restore of a counter
# Select integration tests with TESTS="counter memory ..."; see
# tests/integration/run.sh.

# The targets are the programs being checkpointed: ordinary dynamic glibc
# programs, never built with sanitizers (ASan's shadow memory would make
# them huge), whatever CFLAGS says.
TARGET_CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE
TEST_TARGET_SRCS := $(sort $(wildcard tests/targets/*.c))
TEST_TARGETS := $(TEST_TARGET_SRCS:tests/targets/%.c=$(BUILD)/tests/targets/%)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_TESTS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

$(BUILD)/tests/targets/%: tests/targets/%.c $(wildcard tests/targets/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TARGET_CFLAGS) -o $@ $< -pthread

$(BUILD)/tests/unit/%: tests/unit/%.c tests/unit/tap.h $(BUILD)/librtcr.a $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I. $(LDFLAGS) -o $@ $< $(UNIT_EXTRA) $(BUILD)/librtcr.a -lprotobuf-c -lxxhash \
	  -lsodium -lpthread

# The command line's option parser is not in librtcr.a: its test links it.
$(BUILD)/tests/unit/test_cli_opts: UNIT_EXTRA = $(BUILD)/src/cli/opt.o
$(BUILD)/tests/unit/test_cli_opts: $(BUILD)/src/cli/opt.o

test-targets: $(TEST_TARGETS)
unit-tests: $(UNIT_TESTS)

check: all $(TEST_TARGETS) $(UNIT_TESTS)
	@BUILD=$(BUILD) RTCR=$(abspath $(BUILD)/rtcr) TARGET_DIR=$(abspath $(BUILD)/tests/targets) \
	  bash tests/integration/check.sh $(abspath scripts/layers.py) $(UNIT_TESTS)

# A sub-make with its own build directory. CFLAGS/LDFLAGS go through the
# environment so that the main Makefile still appends its own flags.
check-asan:
	CFLAGS="-O2 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" $(MAKE) BUILD=build-asan check

demo: all $(TEST_TARGETS)
	@RTCR=$(abspath $(BUILD)/rtcr) COUNTER=$(abspath $(BUILD)/tests/targets/counter) bash tests/demo.sh

.PHONY: test-targets unit-tests
