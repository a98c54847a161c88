from __future__ import annotations

import hashlib
import shutil
import zipfile

import pytest
from PIL import Image

from rdpbench.data.datasets import Archive, ArchiveDataset, Folder, Kodak, Sample
from rdpbench.errors import DatasetError


def test_kodak_cache_passes_its_pinned_checksums(kodak_root):
    refs = Kodak(str(kodak_root), offline=True).images()
    assert [r.name for r in refs] == [f"kodim{i:02d}" for i in range(1, 25)]


def test_kodak_checksum_mismatch_is_refused(tmp_path, kodak_root):
    shutil.copytree(kodak_root / "kodak", tmp_path / "kodak")
    (tmp_path / "kodak" / "kodim07.png").write_bytes(b"tampered")
    with pytest.raises(DatasetError, match="kodim07.png has the wrong SHA-256"):
        Kodak(str(tmp_path), offline=True).images()


def test_kodak_missing_offline_names_url_and_path(tmp_path):
    with pytest.raises(DatasetError) as info:
        Kodak(str(tmp_path), offline=True).images()
    message = str(info.value)
    assert "http://r0k.us/graphics/kodak/kodak/kodim01.png" in message
    assert str(tmp_path / "kodak" / "kodim01.png") in message


def test_sample_is_shipped_and_verified():
    refs = Sample().images()
    assert len(refs) == 4 and all(r.path.exists() for r in refs)


def test_folder_lists_images_and_reports_empty(tmp_path, small_image):
    Image.fromarray(small_image).save(tmp_path / "b.png")
    Image.fromarray(small_image).save(tmp_path / "a.jpg")
    (tmp_path / "readme.txt").write_text("x")
    assert [r.name for r in Folder(str(tmp_path)).images()] == ["a", "b"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        Folder(str(tmp_path / "empty")).images()
    with pytest.raises(DatasetError, match="does not exist"):
        Folder(str(tmp_path / "missing")).images()


def _toy_archive_dataset(tmp_path, small_image, digest=None):
    source = tmp_path / "src"
    source.mkdir()
    Image.fromarray(small_image).save(source / "0801.png")
    zip_path = tmp_path / "root" / "toy" / "toy.zip"
    zip_path.parent.mkdir(parents=True)
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.write(source / "0801.png", "toy_valid/0801.png")
    real = hashlib.sha256(zip_path.read_bytes()).hexdigest()

    class Toy(ArchiveDataset):
        name = "toy"
        archives = {"valid": Archive("https://example.invalid/toy.zip", zip_path.stat().st_size, digest or real, "x")}

    return Toy(str(tmp_path / "root"), "valid", offline=True), zip_path


def test_archive_dataset_verifies_extracts_and_remembers(tmp_path, small_image):
    dataset, zip_path = _toy_archive_dataset(tmp_path, small_image)
    assert [r.name for r in dataset.images()] == ["toy_valid__0801"]
    zip_path.unlink()  # verified once: the marker lets later runs skip the zip
    assert len(dataset.images()) == 1
    assert dataset.label == "toy"


def test_archive_checksum_mismatch_is_refused(tmp_path, small_image):
    dataset, _ = _toy_archive_dataset(tmp_path, small_image, digest="0" * 64)
    with pytest.raises(DatasetError, match="wrong SHA-256"):
        dataset.images()


def test_unknown_split_lists_choices(tmp_path):
    from rdpbench.data.datasets import CLIC2020

    with pytest.raises(DatasetError, match="professional_test"):
        CLIC2020(str(tmp_path), "nope")
    assert CLIC2020(str(tmp_path), "professional_test").label == "clic2020-professional_test"


def test_folder_ids_and_store_files_never_collide(tmp_path, small_image):
    from rdpbench.results.store import safe_name

    for name in ("dup.png", "dup.jpg", "a b.png", "a_b.png", "solo.png"):
        Image.fromarray(small_image).save(tmp_path / name)
    refs = Folder(str(tmp_path)).images()
    assert [r.name for r in refs] == ["a b", "a_b", "dup.jpg", "dup.png", "solo"]
    assert {r.path.name for r in refs} == {"dup.png", "dup.jpg", "a b.png", "a_b.png", "solo.png"}
    assert len({safe_name(r.name) for r in refs}) == len(refs)
    assert safe_name("kodim01") == "kodim01" and safe_name("DIV2K_valid_HR__0801") == "DIV2K_valid_HR__0801"


def test_folder_id_collision_left_is_refused_naming_both_files(tmp_path, small_image):
    (tmp_path / "sub").mkdir()
    Image.fromarray(small_image).save(tmp_path / "sub" / "x.png")
    Image.fromarray(small_image).save(tmp_path / "sub__x.png")
    with pytest.raises(DatasetError) as info:
        Folder(str(tmp_path), recursive=True).images()
    assert str(tmp_path / "sub" / "x.png") in str(info.value) and str(tmp_path / "sub__x.png") in str(info.value)
