"""`run_assistant.py bench`: the benchmark suite (see skill/bench/ and BENCHMARKS.md)."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from .bench.__main__ import add_arguments
    p = subparsers.add_parser(
        "bench", help="run the benchmarks (accuracy, cost, footprint, latency): tables + JSON",
        description="Benchmarks, not tests: run on demand, print tables, write bench-results/bench.json. "
                    "See BENCHMARKS.md for the numbers and the commands that produced them.")
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .bench.__main__ import main
    return main(args)
