"""The serving entry point (app.py, what gunicorn and `flask --app app` load) freezes what start-up
loaded, so the cyclic collector's full collections during requests stay short."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_app_py_freezes_the_start_up_objects(tmp_path):
    env = dict(os.environ, REGISTRY_INSTANCE_PATH=str(tmp_path / "instance"),
               DATABASE_URL=f"sqlite:///{tmp_path / 'entry.sqlite'}")
    code = "import gc, app; print(gc.get_freeze_count(), gc.isenabled())"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    frozen, enabled = out.stdout.split()
    assert int(frozen) > 50_000     # the modules, the app and its configuration
    assert enabled == "True"        # the collector still runs for what requests make
