# Deliveries/s by subscriber count, one line per target (median, min-max bars), for
# scripts/bench. Set on the command line: datadir, outfile, and (load) fanout.gpvars from
# report.mjs: nseries, fileI, titleI, colorI, dashI (I = 1..nseries), plottitle.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 1300,650 font "sans,10"
} else {
    set terminal png size 1300,650
}
set output outfile
set title plottitle
set logscale x
set xtics add (5000 5000, 10000 10000)
set mxtics 10
set xlabel "subscribers of the object"
set ylabel "deliveries/s"
set format y "%.1s%c" # mantissa with one decimal: 2.5M, not 2M
set yrange [0:*]
set offsets graph 0.05, graph 0.05, graph 0.05, 0
set grid xtics ytics
set key outside right center box
v(fmt, i) = value(sprintf(fmt, i))
plot for [i=1:nseries] v("file%d", i) using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 0.8 \
    dt v("dash%d", i) lc rgb v("color%d", i) title v("title%d", i)
