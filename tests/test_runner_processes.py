"""Worker processes: none outlives a run, finished or killed, and a killed run loses nothing finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rdpbench.results.store import load_rows

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads sessions from /proc (Linux)")


def session_members(session: int) -> list[int]:
    """Processes whose session id is `session` (run.py is started as a session leader, so every
    process it starts, and theirs, is in its session unless it calls setsid)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[3]) == session:
            members.append(int(entry.name))
    return members


def start_run(results: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "run.py"), "codec=jpeg", f"results_dir={results}",
                             "workers=2", *overrides], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_no_process_of_the_run_is_alive_after_it_exits(tmp_path):
    proc = start_run(tmp_path, "codec.ops.quality=[5,20,40,60,80]")
    most = 0
    while proc.poll() is None:
        most = max(most, len(session_members(proc.pid)))
        time.sleep(0.02)
    output = proc.stdout.read()
    assert proc.returncode == 0, output
    assert most >= 3, "the run should have had two worker processes besides itself"
    assert session_members(proc.pid) == [], "processes of the run outlived it"
    assert len(load_rows(tmp_path)) == 4 * 5


def test_a_killed_run_loses_nothing_finished_leaves_no_worker_and_resumes(tmp_path):
    overrides = ("codec.ops.quality=[" + ",".join(map(str, range(1, 101, 2))) + "]",)  # ~1 s per image
    proc = start_run(tmp_path, *overrides)
    rows_dir = tmp_path / "rows"
    deadline = time.monotonic() + 300
    while not list(rows_dir.rglob("*.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_members(proc.pid) == [], "workers outlived their killed run"
    finished = {p: p.stat().st_mtime_ns for p in rows_dir.rglob("*.json")}
    assert 1 <= len(finished) < 4, "kill the run after its first image and before its last"
    for path in finished:  # whole row files whose every stream is on disk
        for row in json.loads(path.read_text()):
            assert (tmp_path / row["stream_path"]).stat().st_size == row["bytes"]
    resumed = start_run(tmp_path, *overrides)
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    assert f"{4 - len(finished)} image tasks done, {len(finished)} already in the store" in output
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in finished.items()), "finished images were redone"
    assert len(load_rows(tmp_path)) == 4 * 50
