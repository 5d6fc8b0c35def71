"""Benchmarks (issue 4, "Performance"): not timed tests; results and the exact commands in docs/benchmarks.md."""
