"""Nothing depends on where a checkout sits: no absolute path of one machine in code, configs, tests or docs.

Shared data is reached as `../shared` resolved from the repository root (rdpbench.paths), through
RDPBENCH_DATA_ROOT, or through an argument.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from rdpbench import paths

REPO = Path(__file__).resolve().parents[1]
# An absolute path into some machine's shared folder (`/<dir>/shared/...`), or
# into this checkout itself; `../shared` and `$RDPBENCH_DATA_ROOT` are how the code says it.
MACHINE_PATH = re.compile(r"(?<![\w.~$}/])(/[\w.-]+)+/shared/|" + re.escape(str(REPO)))


def test_no_tracked_file_holds_a_machine_path():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for name in files:
        path = REPO / name
        if path.suffix in (".png", ".pth", ".pdf", ".zip") or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not hits, "machine paths:\n" + "\n".join(hits)


def test_shared_paths_resolve_from_the_repository_root(monkeypatch):
    monkeypatch.delenv("RDPBENCH_DATA_ROOT", raising=False)
    monkeypatch.delenv("RDPBENCH_SHARED", raising=False)
    assert paths.datasets_dir() == REPO.parent / "shared" / "datasets"
    assert paths.published_anchors_dir() == REPO.parent / "shared" / "anchors" / "published"
    monkeypatch.setenv("RDPBENCH_DATA_ROOT", "/elsewhere/data")
    assert paths.datasets_dir() == Path("/elsewhere/data")
