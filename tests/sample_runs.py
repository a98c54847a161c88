"""run.py on a crop of the shipped sample in a fresh process, as a user runs it (shared by codec tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_on_sample_crop(tmp_path: Path, overrides: list[str], size: tuple[int, int] = (128, 192)):
    """The result rows of `python run.py <overrides> dataset=folder` on the sample's first image cropped
    to `size` (height, width); the run must succeed."""
    from PIL import Image

    from rdpbench.data.images import load_image
    from rdpbench.results.store import load_rows

    image, _ = load_image(sorted((REPO / "rdpbench" / "data" / "sample").glob("*.png"))[0])
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(image[:size[0], :size[1]]).save(folder / "crop.png")
    out = subprocess.run([sys.executable, "run.py", *overrides, "dataset=folder", f"dataset.path={folder}",
                          f"results_dir={tmp_path / 'results'}"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return load_rows(tmp_path / "results")
