"""``yof-darknet benchmark``: engines x precisions x sizes in one table (``run.run_benchmark``),
with this CPU's measured peaks (``peaks.measure_peaks``) and a stream test."""
