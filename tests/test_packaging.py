"""The classical-only path must not need torch (the core install does not pull it)."""

import subprocess
import sys


def test_core_imports_do_not_import_torch():
    code = ("import sys, rdpbench.codecs, rdpbench.metrics, rdpbench.runners.run, rdpbench.data; "
            "heavy = [m for m in ('torch', 'compressai', 'diffusers', 'lpips') if m in sys.modules]; "
            "assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
