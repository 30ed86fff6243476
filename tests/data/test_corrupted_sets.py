"""A corrupted-set folder never mixes data: a file is reused only when everything that made
it matches, and what would be left inconsistent is refused."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from edgeprune import files
from edgeprune.data import corrupted_sets
from edgeprune.data.corrupted_sets import (
    LABELS_FILE,
    META_FILE,
    corrupted_splits,
    write_corrupted_set,
)
from edgeprune.errors import EdgepruneError
from edgeprune.files import read_json

NAMES = ("gaussian_noise", "brightness")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8), rng.integers(0, 3, 24)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_another_seed_regenerates_instead_of_mixing(images, tmp_path):
    x, y = images
    write_corrupted_set(x, y, tmp_path / "a", NAMES[:1], seed=0)
    write_corrupted_set(x, y, tmp_path / "a", NAMES[:1], seed=1)
    write_corrupted_set(x, y, tmp_path / "fresh", NAMES[:1], seed=1)
    noise = "gaussian_noise.npy"
    # before: the seed-0 file stayed while labels and corruptions.json said seed 1
    assert _sha(tmp_path / "a" / noise) == _sha(tmp_path / "fresh" / noise)
    assert read_json(tmp_path / "a" / META_FILE)["files"]["gaussian_noise"]["seed"] == 1


def test_an_identical_call_reuses_every_file(images, tmp_path):
    x, y = images
    write_corrupted_set(x, y, tmp_path, NAMES)
    stamps = {n: (tmp_path / f"{n}.npy").stat().st_mtime_ns for n in NAMES}
    said = []
    write_corrupted_set(x, y, tmp_path, NAMES, progress=said.append)
    assert said == [f"{n}: present, kept" for n in NAMES]
    assert stamps == {n: (tmp_path / f"{n}.npy").stat().st_mtime_ns for n in NAMES}


def test_other_images_with_files_it_would_not_regenerate_are_refused(images, tmp_path):
    x, y = images
    write_corrupted_set(x, y, tmp_path, NAMES)
    before = {p.name: _sha(p) for p in tmp_path.iterdir() if p.is_file() and p.name[0] != "."}
    with pytest.raises(
        EdgepruneError,
        match=r"brightness\) made from other images .*24 images, seed 0; now 12 images",
    ):
        write_corrupted_set(x[:12], y[:12], tmp_path, NAMES[:1])
    assert before == {
        p.name: _sha(p) for p in tmp_path.iterdir() if p.is_file() and p.name[0] != "."
    }
    # asking for both regenerates both: the folder is one consistent set again
    write_corrupted_set(x[:12], y[:12], tmp_path, NAMES)
    splits, _ = corrupted_splits(tmp_path, (16, 16, 3))
    assert {s.stop - s.start for s in splits} == {12}
    assert len(np.load(tmp_path / LABELS_FILE)) == 60


def test_a_truncated_or_outdated_file_is_generated_again(images, tmp_path, monkeypatch):
    x, y = images
    write_corrupted_set(x, y, tmp_path, NAMES[:1])
    path = tmp_path / "gaussian_noise.npy"
    good = _sha(path)
    path.write_bytes(path.read_bytes()[:1000])  # a damaged copy
    with pytest.raises(EdgepruneError, match="not the file corruptions.json records"):
        corrupted_splits(tmp_path, (16, 16, 3))
    write_corrupted_set(x, y, tmp_path, NAMES[:1])
    assert _sha(path) == good
    stamp = path.stat().st_mtime_ns
    monkeypatch.setattr(corrupted_sets, "GENERATOR_VERSION", 999)  # the code's output changed
    write_corrupted_set(x, y, tmp_path, NAMES[:1])
    assert path.stat().st_mtime_ns != stamp
    assert read_json(tmp_path / META_FILE)["files"]["gaussian_noise"]["generator_version"] == 999


def test_a_folder_edgeprune_did_not_write_is_refused(images, tmp_path):
    x, y = images
    np.save(tmp_path / "gaussian_noise.npy", np.zeros((120, 16, 16, 3), np.uint8))
    with pytest.raises(EdgepruneError, match="did not record"):
        write_corrupted_set(x, y, tmp_path, NAMES[:1])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name[0] != ".") == ["gaussian_noise.npy"]


def test_another_frost_texture_folder_regenerates_frost(images, tmp_path):
    from PIL import Image

    x, y = images
    textures = tmp_path / "textures"
    textures.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(textures / "a.png")
    write_corrupted_set(x, y, tmp_path / "set", ("frost",))
    procedural = _sha(tmp_path / "set" / "frost.npy")
    write_corrupted_set(x, y, tmp_path / "set", ("frost",), frost_textures=textures)
    assert _sha(tmp_path / "set" / "frost.npy") != procedural


# ------------------------------------------------ what mutation testing found unpinned


def test_each_split_reads_the_rows_of_its_severity(images, tmp_path):
    x, y = images
    write_corrupted_set(x, y, tmp_path, NAMES[:1])
    stored = np.load(tmp_path / "gaussian_noise.npy")
    splits, missing = corrupted_splits(tmp_path, (16, 16, 3))
    assert len(missing) == 18 and [s.name for s in splits][:2] == [
        "gaussian_noise/1",
        "gaussian_noise/2",
    ]
    for severity, split in enumerate(splits, start=1):
        assert (split.start, split.stop) == ((severity - 1) * 24, severity * 24)
        np.testing.assert_array_equal(stored[split.start : split.stop], corrupt_rows(x, severity))


def corrupt_rows(x, severity):
    from edgeprune.data.corruptions import corrupt

    return corrupt(x, "gaussian_noise", severity, seed=0)


def test_a_file_of_the_wrong_type_is_refused(tmp_path):
    """A downloaded CIFAR-10-C-layout folder (no manifest) is checked file by file."""
    np.save(tmp_path / LABELS_FILE, np.zeros(120, np.uint8))
    np.save(tmp_path / "contrast.npy", np.zeros((120, 16, 16, 3), np.float32))
    with pytest.raises(EdgepruneError, match="expected uint8"):
        corrupted_splits(tmp_path, (16, 16, 3))


def test_labels_are_rewritten_only_when_they_change(images, tmp_path):
    x, y = images
    write_corrupted_set(x, y, tmp_path, NAMES[:1])
    stamp = (tmp_path / LABELS_FILE).stat().st_mtime_ns
    write_corrupted_set(x, y, tmp_path, NAMES[:1])
    assert (tmp_path / LABELS_FILE).stat().st_mtime_ns == stamp
    relabelled = (y + 1) % 3  # same images and count, other labels
    write_corrupted_set(x, relabelled, tmp_path, NAMES[:1])
    np.testing.assert_array_equal(np.load(tmp_path / LABELS_FILE), np.tile(relabelled, 5))


@pytest.mark.parametrize("top, dtype", [(255, np.uint8), (256, np.int64)])
def test_labels_are_uint8_as_in_cifar10_c_while_they_fit(images, tmp_path, top, dtype):
    x, _ = images
    labels = np.arange(len(x)) * top // (len(x) - 1)  # 0 .. top
    write_corrupted_set(x, labels, tmp_path, NAMES[:1])
    stored = np.load(tmp_path / LABELS_FILE)
    assert stored.dtype == dtype and stored.max() == top


def test_free_space_is_asked_for_what_is_still_to_generate(images, tmp_path, monkeypatch):
    x, y = images
    write_corrupted_set(x, y, tmp_path, NAMES[:1])
    asked = []
    monkeypatch.setattr(
        corrupted_sets, "ensure_free_space", lambda folder, n, what: asked.append(n)
    )
    write_corrupted_set(x, y, tmp_path, (*NAMES, "contrast"))
    assert asked == [2 * x.size * 5]  # brightness and contrast: gaussian_noise is finished


def test_the_digest_is_of_every_byte_whatever_the_chunk(monkeypatch):
    import hashlib

    a = np.arange(1000, dtype=np.uint8).reshape(10, 100)
    whole = files.array_digest(a)
    monkeypatch.setattr(files, "DIGEST_CHUNK", 7)
    assert files.array_digest(a) == whole
    b = a.copy()
    b[-1, -1] ^= 1  # the last byte, beyond every full chunk
    assert files.array_digest(b) != whole
    expected = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()
    assert whole == expected
