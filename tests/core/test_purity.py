"""core/ must import and run without Ray or MLflow (arrows point sweep -> core only)."""
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_core_imports_and_runs_a_trial_with_ray_and_mlflow_unimportable():
    script = textwrap.dedent("""
        import importlib, pkgutil, sys
        for blocked in ("ray", "mlflow", "sweep", "analysis"):
            sys.modules[blocked] = None          # any import of these now raises ImportError
        import core
        names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
        for name in names:
            importlib.import_module(name)
        from core.pipeline import run_trial
        from core.spec import CompressSpec, DataSpec, ModelSpec, TrainSpec, TrialSpec
        spec = TrialSpec(eta_over_b=2e-3, data=DataSpec(dataset="synthetic", dim=8, n_train=200, n_test=100),
                         model=ModelSpec(width=16, depth=2), train=TrainSpec(max_iters=100, avg_window=20),
                         compress=CompressSpec(ratios=(0.0, 0.5), curve_ratios=(0.0, 0.5)))
        result = run_trial(spec)
        assert result.status == "capped", result.status
        print(len(names), "modules", len(result.metrics), "metrics")
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "modules" in out.stdout
