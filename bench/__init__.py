"""Benchmarks: `make bench` runs every `bench/bench_*.py`; each writes JSON to bench/results/."""
