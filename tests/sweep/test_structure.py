"""The package's shape: command modules stand alone, and validating a sweep file needs no MLflow."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

SWEEP = Path(__file__).resolve().parents[2] / "sweep"
REPO = SWEEP.parent


def _imported(path: Path) -> set[str]:
    """Every sweep module a file imports, at any depth of the file (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "sweep":
                found |= {f"sweep.{alias.name}" for alias in node.names}
    return found


def test_no_command_module_imports_another():
    commands = sorted(SWEEP.glob("cmd_*.py"))
    assert len(commands) >= 5
    for path in commands:
        others = {m for m in _imported(path) if m.startswith("sweep.cmd_")}
        assert not others, f"{path.name} imports {sorted(others)}: shared logic belongs in a non-command module"


def test_sweep_file_validation_does_not_import_the_mlflow_adapter():
    for name in ("config.py", "config_schema.py", "locations.py", "tracking_config.py"):
        assert not {"sweep.tracking", "sweep.mlflow_runs", "mlflow"} & _imported(SWEEP / name), name


def test_importing_the_sweep_file_schema_leaves_mlflow_unloaded():
    code = ("import sys, sweep.config, sweep.locations; "
            "print(sorted(m for m in ('mlflow', 'ray', 'sweep.tracking') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
