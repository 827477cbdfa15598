"""Benchmarks of campaign-reconciler against the sandbox; see bench/run_all.py and bench/RESULTS.md."""
