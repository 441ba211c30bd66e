"""`make bench`: throughput benchmarks, each a `bench_*.py` module with a `main()` that prints."""
