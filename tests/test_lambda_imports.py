"""The Lambdas' cold start: importing the Chalice app must not import miniwdl, which only the
orchestrator and the backends need (about 100 ms of a cold start; make bench's cold_import)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_app_imports_without_miniwdl() -> None:
    probe = "import sys, app; print(sorted(m for m in sys.modules if m.split('.')[0] == 'WDL'))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
