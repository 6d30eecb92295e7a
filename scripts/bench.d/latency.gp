# Latency at the fixed offered rate (W1b) as a step CDF, one panel per subscriber count,
# for scripts/bench. objcast-bench reports p50, p90, p99, p99.9 and max (not its whole
# histogram), so each line steps through those points; the y axis counts "nines"
# (y = -log10(1 - q), max drawn at the top). Set on the command line: datadir, outfile,
# and (load) latency.gpvars from report.mjs: npanels, ptitleJ, pnJ (series of panel J),
# fileJ_I, titleJ_I, colorJ_I, dashJ_I, plottitle.
v1(fmt, j) = value(sprintf(fmt, j))
v2(fmt, j, i) = value(sprintf(fmt, j, i))
width = 520 * npanels + 80
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size width,600 font "sans,10"
} else {
    set terminal png size width,600
}
set output outfile
set logscale x
set xlabel "end-to-end latency (µs)"
set ylabel "deliveries at or below the latency"
set ytics ("50%%" 0.30103, "90%%" 1, "99%%" 2, "99.9%%" 3, "max" 4)
set yrange [0:5.8]   # room for the key above "max"
set grid xtics ytics mxtics
set key inside left top box opaque
set multiplot layout 1,npanels title plottitle
do for [j=1:npanels] {
    set title v1("ptitle%d", j)
    plot for [i=1:v1("pn%d", j)] v2("file%d_%d", j, i) using 1:2 with steps lw 2 \
            dt v2("dash%d_%d", j, i) lc rgb v2("color%d_%d", j, i) title v2("title%d_%d", j, i), \
        for [i=1:v1("pn%d", j)] v2("file%d_%d", j, i) using 1:2 with points pt 7 ps 0.7 \
            lc rgb v2("color%d_%d", j, i) notitle
}
unset multiplot
