# Benchmarks: `make bench` (needs root). Included by the main Makefile.
BENCH_BINS := $(BUILD)/bench/memtarget $(BUILD)/bench/memcpy_baseline $(BUILD)/bench/reaper
BENCH_BINS += $(BUILD)/bench/threadtarget $(BUILD)/bench/treetarget

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

$(BUILD)/bench/threadtarget: bench/threadtarget.c
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
