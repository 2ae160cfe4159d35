# Benchmarks: `make bench` (needs root). Included by the main Makefile.
BENCH_BINS := $(BUILD)/bench/memtarget $(BUILD)/bench/memcpy_baseline $(BUILD)/bench/reaper
BENCH_BINS += $(BUILD)/bench/threadtarget $(BUILD)/bench/treetarget
BENCH_BINS += $(BUILD)/bench/writer $(BUILD)/bench/dirtytarget $(BUILD)/bench/tcpcopy
$(BENCH_BINS): bench/bench.h tests/targets/tgt.h

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

$(BUILD)/bench/threadtarget: bench/threadtarget.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -pthread -o $@ $<

$(BUILD)/bench/dirtytarget: bench/dirtytarget.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -pthread -o $@ $<

bench-bins: $(BENCH_BINS)

bench: all $(BENCH_BINS)
	BUILD=$(BUILD) bash bench/checkpoint.sh
	BUILD=$(BUILD) bash bench/threads.sh

# Threads and process trees only: checkpoint pause per thread / per process.
bench-threads: all $(BENCH_BINS)
	BUILD=$(BUILD) bash bench/threads.sh

.PHONY: bench-bins bench-threads

# The migration stream: raw loopback TCP against the encrypted stream, per cipher.
$(BUILD)/bench/streambench: bench/streambench.c $(BUILD)/librtcr.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librtcr.a $(LDLIBS)

bench-stream: $(BUILD)/bench/streambench
	$(BUILD)/bench/streambench

.PHONY: bench-stream

# Dirty tracking: runtime cost and incremental/live pause per granularity
# (QUICK=1 for a smoke run); tables on stdout, numbers in bench/results/.
bench-granularity: all $(BENCH_BINS) $(BUILD)/bench/writer
	BUILD=$(BUILD) bash bench/granularity.sh

.PHONY: bench-granularity

# Live migration between two network namespaces (veth): stop vs pre-copy,
# downtime seen by rtcr and by the target, against a raw TCP copy (QUICK=1
# for a smoke run); table on stdout, per-run numbers in bench/results/migrate.csv.
bench-migrate: all $(BENCH_BINS) $(BUILD)/bench/streambench
	BUILD=$(BUILD) bash bench/migrate.sh

.PHONY: bench-migrate
