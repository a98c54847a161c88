"""Worker processes and durability: no process outlives a run, finished or killed; a killed run
loses nothing finished; an image's rows are committed only after all its artifacts are on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import rdpbench.results.store as store_module
from rdpbench.results.store import ResultStore, load_failures, load_rows
from rdpbench.runners.run import run

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
    overrides = ("codec.ops.quality=[" + ",".join(map(str, range(1, 101))) + "]",)  # seconds per image
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
    assert f"{4 - len(finished)} image tasks done, 0 completed" in output
    assert f"{len(finished)} already in the store" in output
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in finished.items()), "finished images were redone"
    assert len(load_rows(tmp_path)) == 4 * 100


def test_background_artifacts_are_on_disk_when_the_block_ends_and_errors_surface(tmp_path):
    store, gate = ResultStore(tmp_path), threading.Event()

    def slow() -> bytes:
        gate.wait(10)
        return b"stream"

    with store.background_artifacts() as write:
        write(Path("streams/a.bin"), slow)
        assert not (tmp_path / "streams" / "a.bin").exists(), "written in the background"
        gate.set()
    assert (tmp_path / "streams" / "a.bin").read_bytes() == b"stream"

    def broken() -> bytes:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with store.background_artifacts() as write:
            write(Path("streams/b.bin"), broken)


def test_an_image_whose_stream_cannot_be_written_gets_no_rows(tmp_path, monkeypatch):
    real = store_module.write_atomic

    def failing(path: Path, data: bytes) -> None:
        if "kodim13" in str(path) and path.suffix == ".bin":
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(store_module, "write_atomic", failing)
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["codec=jpeg", "codec.ops.quality=[10,50]", "workers=0",
                                                         f"results_dir={tmp_path}"])
    report = run(cfg, "jpeg")
    assert report.done == 3 and len(report.failures) == 1 and "disk full" in report.failures[0]
    assert "kodim13_half" not in set(load_rows(tmp_path)["image"])
    assert "disk full" in load_failures(tmp_path)["error"].iloc[0]
