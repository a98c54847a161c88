"""The README's commands work as written: a new user copies them, so they are parsed and composed here."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from rdpbench.runners.run import codec_configs
from rdpbench.runners.tasks import build_codec

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def run_commands() -> list[str]:
    """Every `python run.py ...` command in the README's code blocks (continuations joined, comments cut)."""
    blocks = re.findall(r"```\n(.*?)```", README, flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [line.split(" #")[0].strip() for line in lines if line.strip().startswith("python run.py")]


COMMANDS = run_commands()


def test_the_readme_has_run_commands():
    assert len(COMMANDS) >= 12
    assert any("codec.ops.quality=" in c for c in COMMANDS) and any("dataset.path=" in c for c in COMMANDS)
    assert any("submitit_slurm" in c for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_composes_and_builds_its_codecs(command):
    words = shlex.split(os.path.expandvars(command))[2:]
    overrides = [w for w in words if w not in ("-m", "--cfg", "job")]
    OverridesParser.create().parse_overrides(overrides)  # the README's `dataset.path=~/imgs` failed here
    # multirun sweeps: compose the first value of each; hydra/* overrides choose launchers, not the config
    plain = [re.sub(r"^((?:codec|dataset)=)([^,]+),.*$", r"\1\2", o) for o in overrides if not o.startswith("hydra")]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=plain)
    label = next((o.split("=", 1)[1] for o in plain if o.startswith("codec=")), "jpeg")
    for config in codec_configs(cfg.codec, label).values():
        assert build_codec(config).operating_points()
    if "dataset.path=" in command:
        assert cfg.dataset.path == str(Path.home() / "imgs")


def test_readme_operating_point_example_takes_effect():
    command = next(c for c in COMMANDS if "'codec.ops.quality=[5,10,20,40]'" in c)
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=shlex.split(command)[2:])
    assert [op["quality"] for op in build_codec(cfg.codec).operating_points()] == [5, 10, 20, 40]


def test_readme_lists_the_classical_suite_as_it_is():
    row = next(line for line in README.splitlines() if line.startswith("| `classical` |"))
    listed = re.findall(r"`([a-z0-9_]+)`", row.split("|")[2])
    suite = yaml.safe_load((REPO / "conf" / "codec" / "classical.yaml").read_text())["defaults"]
    assert listed == [entry.split("@")[1] for entry in suite]


def test_readme_sets_up_in_a_virtualenv_before_installing():
    setup = README[README.index("## From a fresh clone"):README.index("### Operating points")]
    assert "-m venv" in setup and "activate" in setup
    assert setup.index("-m venv") < setup.index("make setup ")  # `make setup-system` (apt) may come first
    assert "RDPBENCH_DATA_ROOT=../shared/datasets" in setup and "make report" in setup


def test_run_help_explains_rdpbench_not_hydra():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(REPO / "run.py"), "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0
    text = done.stdout
    assert text.startswith("rdpbench: rate-distortion-perception benchmark") and "powered by Hydra" not in text
    assert "codec.ops.quality=" in text and "target_bpp" in text and "max_images=N" in text
    listing = text[text.index("== Choose one option per group"):text.index("== Settings")].splitlines()[1:]
    groups = dict(line.split(": ", 1) for line in listing if ": " in line)
    assert set(groups) == {"codec", "codec/denoiser", "codec/tagger", "dataset", "metrics"}, \
        "no unusable groups (train) listed"
    assert "jpeg_compressai" in groups["codec"]
