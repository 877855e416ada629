"""Benchmark suite: accuracy, recognition cost, footprint and turn latency (BENCHMARKS.md).

Run with `run_assistant.py bench` or `python -m skill.bench`; not part of the test suite.
"""
