"""Every script in examples/ runs to completion (the README's first command runs one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))
SRC = str(Path(__file__).parent.parent / "src")


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    """The example exits 0 and prints something, run from an empty directory."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), "the example printed nothing"


def test_quickstart_output() -> None:
    """The ORM quickstart shows the objects, the aggregate and the savepoint result."""
    env = dict(os.environ, PYTHONPATH=SRC)
    script = Path(__file__).parent.parent / "examples" / "quickstart.py"
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "User(id=1, name='spongebob'" in out
    assert "addresses per user: [('sandy', 2), ('spongebob', 1)]" in out
    assert "users now: ['spongebob', 'sandy']" in out
