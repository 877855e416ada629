"""Smoke test of the benchmark suite: a tiny --quick run, checked for shape and consistency.

Benchmarks measure; this only proves the harness runs end to end on real audio (espeak-ng +
sox + the real recognisers) and that its bookkeeping adds up. It asserts no speed or accuracy.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                                reason="needs espeak-ng and sox")


def _check_table(table: dict) -> None:
    assert table, "empty result table"
    for key, row in table.items():
        kind = key.split("/")[0]
        if kind == "ood":
            assert row["rejected"] + row["false_accept"] == row["total"], key
            assert row["correct"] == row["wrong"] == 0, key
        else:
            assert row["correct"] + row["rejected"] + row["wrong"] == row["total"], key
            assert row["false_accept"] == 0, key
        assert row["total"] > 0


def test_quick_bench_run_writes_consistent_json(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "skill.bench", "--quick", "--engine", "pocketsphinx",
                           "--only", "accuracy", "--contexts", "yes_no,coach", "--naive-stride", "8", "--jobs", "1", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Command accuracy" in proc.stdout or "skipped" in proc.stdout
    report = json.loads((tmp_path / "bench-quick.json").read_text())
    assert report["quick"] is True and report["engines"] == ["pocketsphinx"]
    counts = report["evalset"]["counts"]
    from skill.bench.evalset import FSDD_DIR
    if FSDD_DIR.is_dir():  # the shared human digits sit beside the repo (CI has them)
        assert counts["fsdd:number:clean"] == 5  # generated, scored only when number is
    else:
        assert "fsdd:number:clean" not in counts
    assert sum(v for k, v in counts.items() if k.startswith("command:")) == 2 * 4 * 2
    acc = report["pocketsphinx"]["accuracy"]
    # the naive baseline needs only the engine library: always measured
    _check_table(acc["naive"]["naive"])
    assert acc["naive"]["naive_rtf"]["utterances"] > 0
    if acc["grammar_skipped"] is None:
        _check_table(acc["grammar"])
        # every command and FSDD recording scored once, every out-of-domain one once per context
        n_cmd = sum(v for k, v in counts.items() if k.startswith("command:"))
        n_ood = sum(v for k, v in counts.items() if k.startswith("ood:"))
        g = acc["grammar"]
        assert g["commands/all/all"]["total"] == n_cmd
        assert "fsdd/all/all" not in g          # FSDD digits belong to the number context
        assert g["ood/all/all"]["total"] == 2 * n_ood
        assert len(acc["records"]) == n_cmd + 2 * n_ood
