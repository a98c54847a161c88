"""The shared training loop: budgets, logs and resumption (rdpbench.training.loop.run_steps)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_a_resumed_run_continues_its_steps_and_averages_whole_windows(tmp_path):
    from rdpbench.training.loop import Checkpoint, run_steps

    net = torch.nn.Linear(1, 1)
    seen: list[int] = []

    def step(i: int, progress: float) -> dict[str, float]:
        seen.append(i)
        return {"value": float(i)}

    def checkpoint() -> Checkpoint:
        return Checkpoint(tmp_path / "stage.pt", 60.0, {"net": net})

    first = run_steps(step, max_steps=7, max_minutes=60, log_every=4, checkpoint=checkpoint())
    assert first.steps == 7 and [e["step"] for e in first.log] == [4]
    again = run_steps(step, max_steps=10, max_minutes=60, log_every=4, checkpoint=checkpoint())
    assert seen == list(range(10)) and again.steps == 10
    # the window ending at step 8 holds only step index 7 in the resumed run: its mean is 7, not 7 / 4
    assert [(e["step"], e["value"]) for e in again.log] == [(4, 1.5), (8, 7.0)]
    finished = run_steps(step, max_steps=10, max_minutes=60, log_every=4, checkpoint=checkpoint())
    assert finished.steps == 10 and seen == list(range(10))  # a finished stage returns at once
