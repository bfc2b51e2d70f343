import ast
from pathlib import Path

import analysis


def test_analysis_never_imports_ray_or_sweep():
    """Analysis reads MLflow data, never Ray; it must not depend on the sweep package."""
    for path in Path(analysis.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name.split(".")[0] not in ("ray", "sweep"), f"{path.name} imports {name}"
