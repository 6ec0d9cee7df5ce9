"""Benchmarks: `make bench` and the scale figures, run outside `make test`."""
