# Benchmarks: `make bench` (needs root). Included by the main Makefile.
BENCH_BINS := $(BUILD)/bench/memtarget $(BUILD)/bench/memcpy_baseline $(BUILD)/bench/reaper

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

bench-bins: $(BENCH_BINS)

bench: all $(BENCH_BINS)
	BUILD=$(BUILD) bash bench/checkpoint.sh

.PHONY: bench-bins
