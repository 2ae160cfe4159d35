# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Plot of bench/granularity.sh's medians (the *-summary.csv it writes):
#   gnuplot -e "data='bench/results/granularity-STAMP-summary.csv'; out='docs/granularity.png'" \
#           bench/granularity.gp
# Optional: rate='5000' (pages/s of the incremental part), mib='256' (writer
# memory), for the labels.
#
# Top: the writer's throughput with tracking / without (off, full
# checkpoints every second), per fault granularity (log scale), adjacent
# and spread writes (error bars: the lowest and highest ratio of a single
# round; the two patterns are drawn a little apart); async as dashed
# horizontal lines, off = 1.
# Bottom: pause of an incremental checkpoint (y1, solid) and its image size
# (y2, dotted) at a steady write rate; async (dashed) and the full
# checkpoint of off (grey) as horizontal lines.

if (!exists("data")) data = 'bench/results/granularity-summary.csv'
if (!exists("out")) out = 'docs/granularity.png'
if (!exists("rate")) rate = '5000'
if (!exists("mib")) mib = '256'

set terminal pngcairo size 1000,900 font ",10"
set output out
set datafile separator ","
set datafile missing "NaN"
set key autotitle columnhead

# columns of the summary
pat = 1; mode = 2; gran = 3; ratio = 5; incpause = 9; incimage = 10; lo = 15; hi = 16
is(p, m) = strcol(pat) eq p && strcol(mode) eq m
KiB(c) = column(c) / 1024.0
xmin = 4; xmax = 4096
# a horizontal line over the whole x range from the row of pattern p, mode m
hx(p, m) = is(p, m) ? xmin : NaN

set logscale x 2
set xrange [xmin / 1.3 : xmax * 1.3]
set xtics ("4K" 4, "16K" 16, "64K" 64, "256K" 256, "1M" 1024, "4M" 4096)
set grid xtics ytics
c_adj = "#1f77b4"; c_spr = "#d62728"; c_off = "#555555"

set lmargin at screen 0.08
set rmargin at screen 0.68
set key outside right top vertical Left reverse spacing 1.2 width -2
set multiplot layout 2,1 title sprintf("rtcr dirty tracking: writer of %s MiB, 2-CPU VM", mib)

set title "throughput under a checkpoint every second (fault:GRAN, async) / the same with tracking off\n(median of all rounds; bars: lowest and highest round)"
set xlabel ""
set ylabel "throughput ratio (1 = off)"
set yrange [0:*]
plot \
  data using (is("adjacent", "fault") ? KiB(gran) / 1.06 : NaN):(column(ratio)):(column(lo)):(column(hi)) \
       with yerrorlines lw 2 pt 7 lc rgb c_adj title "fault, adjacent writes", \
  data using (is("spread", "fault") ? KiB(gran) * 1.06 : NaN):(column(ratio)):(column(lo)):(column(hi)) \
       with yerrorlines lw 2 pt 5 lc rgb c_spr title "fault, spread writes", \
  data using (hx("adjacent", "async")):(column(ratio)):(xmax - xmin):(0) \
       with vectors nohead dt 2 lw 2 lc rgb c_adj title "async, adjacent", \
  data using (hx("spread", "async")):(column(ratio)):(xmax - xmin):(0) \
       with vectors nohead dt 2 lw 2 lc rgb c_spr title "async, spread", \
  1 with lines dt 3 lw 1 lc rgb c_off title "off"

set title sprintf("incremental checkpoint 1 s after the previous one, writer at %s pages/s", rate)
set xlabel "fault granularity (chunk size)"
set ylabel "pause ms (solid)"
set y2label "image MiB (dotted)"
set yrange [0:*]
set y2range [0:*]
set y2tics
set ytics nomirror
plot \
  data using (is("adjacent", "fault") ? KiB(gran) : NaN):(column(incpause)) \
       with linespoints lw 2 pt 7 lc rgb c_adj title "pause, adjacent", \
  data using (is("spread", "fault") ? KiB(gran) : NaN):(column(incpause)) \
       with linespoints lw 2 pt 5 lc rgb c_spr title "pause, spread", \
  data using (is("adjacent", "fault") ? KiB(gran) : NaN):(column(incimage)) axes x1y2 \
       with linespoints dt 3 lw 2 pt 6 lc rgb c_adj title "image, adjacent", \
  data using (is("spread", "fault") ? KiB(gran) : NaN):(column(incimage)) axes x1y2 \
       with linespoints dt 3 lw 2 pt 4 lc rgb c_spr title "image, spread", \
  data using (hx("adjacent", "async")):(column(incpause)):(xmax - xmin):(0) \
       with vectors nohead dt 2 lw 2 lc rgb c_adj title "async pause, adjacent", \
  data using (hx("spread", "async")):(column(incpause)):(xmax - xmin):(0) \
       with vectors nohead dt 2 lw 2 lc rgb c_spr title "async pause, spread", \
  data using (hx("adjacent", "off")):(column(incpause)):(xmax - xmin):(0) \
       with vectors nohead lw 3 lc rgb c_off title "off: full checkpoint pause", \
  data using (hx("adjacent", "off")):(column(incimage)):(xmax - xmin):(0) axes x1y2 \
       with vectors nohead dt 3 lw 3 lc rgb c_off title "off: full image"

unset multiplot
