"""bench/gpu.sh runs end to end on a CPU with --tiny sizes and writes its table; it needs no Ray/MLflow."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_bench_runs_tiny_on_cpu_and_writes_its_table(tmp_path):
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh"), "--tiny", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads((tmp_path / "gpu_bench.json").read_text())
    assert [r["check"][:3] for r in rows] == ["(1)", "(2)", "(3)"]
    assert all(r["value"] > 0 and r["baseline"] > 0 and r["ratio"] == r["value"] / r["baseline"] for r in rows)
    table = (tmp_path / "gpu_bench.txt").read_text()
    assert table in proc.stdout and ">= 0.9x" in table and ">= 2.5x" in table


def test_gpu_bench_imports_neither_ray_nor_mlflow():
    code = ("import sys; sys.path.insert(0, 'bench'); import gpu_bench; "
            "print(sorted({'ray', 'mlflow'} & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
