"""Tests of edgeprune.data.corruptions against the published generator and independent code.

The reference set (../shared/reference/corruptions, see its README) holds the generator's
outputs on 48 views of scikit-image photos. Deterministic corruptions are compared pixel
by pixel (PSNR >= max(psnr_pooled_db + 6, 48) dB: much closer to the reference than the
clean image is); random ones by set-level statistics (MAD within max(15 %,
3 * mad_rep_std_set), diff_std_mean within 15 %). Pieces that reproduce a library
operation (Canny, equalizeHist, the pixel shuffle of glass blur, ImageMagick's motion
blur, the ImageNet-C recipes at 224x224) are compared with that library or with a plain
per-pixel loop.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats

from edgeprune.data.corruptions import (
    ALL,
    BENCHMARK,
    CIFAR,
    CORRUPTIONS,
    DETERMINISTIC,
    GROUP_OF,
    GROUPS,
    HELD_OUT,
    IMAGENET,
    SEVERITIES,
    block_size,
    corrupt,
    is_deterministic,
    make_frost,
    parameter_set_for,
    severity_params,
)
from edgeprune.data.corruptions import digital as digital_module
from edgeprune.data.corruptions import spatter as spatter_module
from edgeprune.data.corruptions.blur import local_shuffle
from edgeprune.data.corruptions.digital import jpeg_roundtrip_pil
from edgeprune.data.corruptions.frost_textures import FrostTextures
from edgeprune.data.corruptions.motion import motion_blur_batch
from edgeprune.data.corruptions.noise import _poisson_by_level, _poisson_tables
from edgeprune.data.corruptions.params import geometry_scale, plasma_map_size
from edgeprune.errors import EdgepruneError

RANDOM = [name for name in ALL if name not in DETERMINISTIC]
SEED = 0


# ---------------------------------------------------------------- reference set


@pytest.fixture(scope="module")
def reference(shared_dir):
    folder = shared_dir / "reference" / "corruptions"
    if not (folder / "reference.npz").is_file():
        pytest.skip(f"corruption reference set not found in {folder}")
    with np.load(folder / "reference.npz") as arrays:
        images = {key: arrays[key] for key in arrays.files}
    stats = json.loads((folder / "stats.json").read_text())
    return images, stats


# Deterministic corruptions are bit-identical to the generator but zoom_blur (77-87 dB).
DETERMINISTIC_PSNR_DB = 70.0


def replay_bar(expected: dict, repetitions: int) -> float:
    """How far one run's set-level MAD may be from the generator's mean of ``repetitions``
    replays: 5 standard deviations of that difference (one run's spread, the generator's
    over its repetitions), or 5 % for what our implementation does differently (spatter's
    distance transform, impulse noise's draws: up to 3.7 % in the 10-run means). Tighter
    than the README's 15 % wherever the generator is stable (noise, glass and motion blur)."""
    spread = expected["mad_rep_std_set"] * np.sqrt(1 + 1 / repetitions)
    return max(5 * spread, 0.05 * expected["mad_mean"])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_deterministic_set_matches_measured_reference(reference):
    _, stats = reference
    assert {name for name, det in stats["deterministic"].items() if det} == DETERMINISTIC
    assert all(is_deterministic(name) == stats["deterministic"][name] for name in ALL)


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_corruptions_match_reference_pixelwise(reference, name):
    images, stats = reference
    clean = images["clean"]
    for severity in SEVERITIES:
        key = f"{name}_s{severity}"
        ours = corrupt(clean, name, severity, seed=SEED)
        bar = max(stats["stats"][key]["psnr_pooled_db"] + 6, 48.0)
        assert _psnr(ours, images[key]) >= bar, key
        # ours is bit-identical but for zoom_blur's float32 sums (77-87 dB): 70 dB, a third
        # of a level RMS, catches a changed parameter that the README's bar lets through
        assert _psnr(ours, images[key]) >= DETERMINISTIC_PSNR_DB, key
        # much closer to the reference than the clean image is
        assert _psnr(ours, images[key]) > _psnr(clean, images[key]) + 6, key


@pytest.mark.parametrize("name", RANDOM)
def test_random_corruptions_match_reference_statistics(reference, name):
    images, stats = reference
    clean = images["clean"].astype(np.float64)
    for severity in SEVERITIES:
        key = f"{name}_s{severity}"
        expected = stats["stats"][key]
        diff = corrupt(images["clean"], name, severity, seed=SEED).astype(np.float64) - clean
        mad = np.abs(diff).mean()
        tolerance = max(0.15 * expected["mad_mean"], 3 * expected["mad_rep_std_set"])
        assert abs(mad - expected["mad_mean"]) <= tolerance, (key, mad, expected["mad_mean"])
        assert abs(mad - expected["mad_mean"]) <= replay_bar(expected, 4), (key, mad)
        diff_std = diff.reshape(len(diff), -1).std(axis=1).mean()
        assert abs(diff_std / expected["diff_std_mean"] - 1) <= 0.15, (key, diff_std)


@pytest.mark.parametrize("name", ALL)
def test_severities_are_monotone_where_the_generators_are(reference, name):
    """Where the generator's distance to the clean image grows with severity (beyond its
    run-to-run spread), ours grows too; where it does not (contrast at 32 px, ...), no order
    is asserted."""
    images, stats = reference
    clean = images["clean"].astype(np.float64)
    expected = [stats["stats"][f"{name}_s{s}"] for s in SEVERITIES]
    ours = [
        np.abs(corrupt(images["clean"], name, s, seed=SEED).astype(np.float64) - clean).mean()
        for s in SEVERITIES
    ]
    for s in range(len(SEVERITIES) - 1):
        lower, upper = expected[s], expected[s + 1]
        spread = 3 * max(lower["mad_rep_std_set"], upper["mad_rep_std_set"])
        if upper["mad_mean"] - lower["mad_mean"] > max(spread, 0.05 * lower["mad_mean"]):
            assert ours[s + 1] > ours[s], (name, s + 1, ours)


# ---------------------------------------------------------------- suite and API


def test_names_groups_and_registry():
    assert len(BENCHMARK) == 15 and len(HELD_OUT) == 4 and ALL == BENCHMARK + HELD_OUT
    assert BENCHMARK[:3] == ("gaussian_noise", "shot_noise", "impulse_noise")
    assert BENCHMARK[-1] == "jpeg_compression"
    assert sorted(CORRUPTIONS.names()) == sorted(ALL)
    assert [n for group in GROUPS.values() for n in group] == list(BENCHMARK)
    assert {GROUP_OF[n] for n in HELD_OUT} == {"noise", "blur", "weather", "digital"}
    assert SEVERITIES == (1, 2, 3, 4, 5)


def _natural_batch(count: int, side: int = 32, seed: int = 1) -> np.ndarray:
    """Smooth random colour images (blurred noise plus gradients), uint8."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.random((count, side, side, 3)), (0, 2, 2, 0))
    ramp = np.linspace(0, 1, side)[None, :, None, None]
    images = 0.6 * (noise - noise.min()) / np.ptp(noise) + 0.4 * ramp
    return (images * 255).astype(np.uint8)


@pytest.mark.parametrize("name", ALL)
def test_shape_dtype_and_reproducibility(name):
    images = _natural_batch(6, seed=2)
    original = images.copy()
    first = corrupt(images, name, 3, seed=7)
    assert first.dtype == np.uint8 and first.shape == images.shape
    np.testing.assert_array_equal(images, original)  # input untouched
    np.testing.assert_array_equal(first, corrupt(images, name, 3, seed=7))
    other_seed = corrupt(images, name, 3, seed=8)
    if is_deterministic(name):
        np.testing.assert_array_equal(first, other_seed)
    else:
        assert not np.array_equal(first, other_seed)
    nonsquare = _natural_batch(2, side=40, seed=3)[:, :24]
    assert corrupt(nonsquare, name, 5, seed=1).shape == nonsquare.shape


def test_results_do_not_depend_on_how_a_dataset_is_split():
    images = _natural_batch(300)
    assert block_size(32, 32) == 128
    for name in ("gaussian_noise", "glass_blur", "frost", "elastic_transform"):
        whole = corrupt(images, name, 4, seed=11)
        parts = [
            corrupt(images[:256], name, 4, seed=11),
            corrupt(images[256:], name, 4, seed=11, first_index=256),
        ]
        np.testing.assert_array_equal(whole, np.concatenate(parts))
        # the same images at another dataset position get other noise
        assert not np.array_equal(
            whole[:128], corrupt(images[:128], name, 4, seed=11, first_index=128)
        )


def test_generator_seed_is_used_directly():
    images = _natural_batch(5)
    a = corrupt(images, "shot_noise", 2, seed=np.random.default_rng(3))
    b = corrupt(images, "shot_noise", 2, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, corrupt(images, "shot_noise", 2, seed=np.random.default_rng(4)))


@pytest.mark.parametrize(
    ("images", "name", "severity", "kwargs", "message"),
    [
        (np.zeros((2, 32, 32, 3), np.float32), "fog", 1, {}, "uint8"),
        (np.zeros((32, 32, 3), np.uint8), "fog", 1, {}, r"\(N, H, W, 3\)"),
        (np.zeros((2, 32, 32, 4), np.uint8), "fog", 1, {}, r"\(N, H, W, 3\)"),
        (np.zeros((2, 4, 4, 3), np.uint8), "fog", 1, {}, "at least"),
        ([[0]], "fog", 1, {}, "numpy array"),
        (np.zeros((2, 32, 32, 3), np.uint8), "fog", 0, {}, "severity"),
        (np.zeros((2, 32, 32, 3), np.uint8), "fog", 6, {}, "severity"),
        (np.zeros((2, 32, 32, 3), np.uint8), "fog", 2.0, {}, "severity"),
        (np.zeros((2, 32, 32, 3), np.uint8), "fog", True, {}, "severity"),
        (np.zeros((2, 32, 32, 3), np.uint8), "fogg", 1, {}, "did you mean 'fog'"),
        (np.zeros((2, 32, 32, 3), np.uint8), "fog", 1, {"first_index": -1}, "first_index"),
        (np.zeros((2, 32, 32, 3), np.uint8), "fog", 1, {"seed": -3}, "seed"),
        (np.zeros((2, 32, 32, 3), np.uint8), "fog", 1, {"seed": 1.5}, "seed"),
    ],
)
def test_bad_input_raises_one_line_error(images, name, severity, kwargs, message):
    kwargs = {"seed": 0} | kwargs
    with pytest.raises(EdgepruneError, match=message) as error:
        corrupt(images, name, severity, **kwargs)
    assert "\n" not in str(error.value)


def test_empty_batch():
    empty = np.zeros((0, 32, 32, 3), np.uint8)
    assert corrupt(empty, "snow", 2, seed=0).shape == empty.shape


# ---------------------------------------------------------------- parameter sets and sizes


def test_parameter_sets_and_size_rules():
    assert parameter_set_for(32, 32) is CIFAR and parameter_set_for(28, 20) is CIFAR
    assert parameter_set_for(33, 32) is IMAGENET and parameter_set_for(224, 224) is IMAGENET
    assert CIFAR.source.endswith("make_cifar_c.py") and IMAGENET.source.endswith(
        "make_imagenet_c.py"
    )
    assert severity_params("jpeg_compression", 1, 32, 32) == 80
    assert severity_params("jpeg_compression", 1, 224, 224) == 25
    assert severity_params("motion_blur", 5, 224, 224) == (20, 15)
    assert geometry_scale(32, 32) == 1 and geometry_scale(224, 224) == 1
    assert geometry_scale(64, 64) == pytest.approx(64 / 224)
    assert plasma_map_size(32, 32) == 32 and plasma_map_size(224, 224) == 256
    assert plasma_map_size(64, 48) == 64
    assert block_size(224, 224) == 2
    for table in (CIFAR.table, IMAGENET.table):
        assert sorted(table) == sorted(ALL) and all(len(v) == 5 for v in table.values())


@pytest.mark.parametrize("side", [64, 224])
def test_larger_images_use_the_imagenet_sets(side):
    images = _natural_batch(1, side=side, seed=5)
    for name in ALL:
        out = corrupt(images, name, 3, seed=2)
        assert out.shape == images.shape and out.dtype == np.uint8
        assert not np.array_equal(out, images), name


def _imagenet_recipe(name: str, image: np.ndarray, severity: int) -> np.ndarray:
    """ImageNet-C's deterministic corruptions redone directly with skimage/OpenCV/PIL/scipy."""
    cv2 = pytest.importorskip("cv2")
    skimage_color = pytest.importorskip("skimage.color")
    skimage_filters = pytest.importorskip("skimage.filters")
    c = IMAGENET.table[name][severity - 1]
    x = image / 255.0
    if name == "gaussian_blur":
        out = skimage_filters.gaussian(x, sigma=c, channel_axis=-1)
    elif name == "defocus_blur":
        grid = np.arange(-max(8, int(c[0])), max(8, int(c[0])) + 1)
        disk = ((grid[:, None] ** 2 + grid[None] ** 2) <= c[0] ** 2).astype(np.float32)
        ksize = (3, 3) if c[0] <= 8 else (5, 5)
        kernel = cv2.GaussianBlur(disk / disk.sum(), ksize=ksize, sigmaX=c[1])
        out = np.stack([cv2.filter2D(x[..., d], -1, kernel) for d in range(3)], axis=-1)
    elif name == "zoom_blur":
        x = x.astype(np.float32)
        total = np.zeros_like(x)
        side = x.shape[0]
        for factor in np.arange(*c):
            crop = int(np.ceil(side / factor))
            top = (side - crop) // 2
            zoomed = ndimage.zoom(
                x[top : top + crop, top : top + crop], (factor, factor, 1), order=1
            )
            trim = (zoomed.shape[0] - side) // 2
            total += zoomed[trim : trim + side, trim : trim + side]
        out = (x + total) / (len(np.arange(*c)) + 1)
    elif name == "contrast":
        means = x.mean(axis=(0, 1), keepdims=True)
        out = (x - means) * c + means
    elif name in ("brightness", "saturate"):
        hsv = skimage_color.rgb2hsv(x)
        if name == "brightness":
            hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
        else:
            hsv[..., 1] = np.clip(hsv[..., 1] * c[0] + c[1], 0, 1)
        out = skimage_color.hsv2rgb(hsv)
    elif name == "pixelate":
        side = image.shape[0]
        small = Image.fromarray(image).resize((int(side * c),) * 2, Image.Resampling.BOX)
        return np.asarray(small.resize((side, side), Image.Resampling.BOX))
    else:  # jpeg_compression
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=c)
        return np.asarray(Image.open(buffer))
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_imagenet_deterministic_corruptions_follow_the_recipe_at_224(name):
    image = _natural_batch(1, side=224, seed=9)[0]
    for severity in (1, 5):
        ours = corrupt(image[None], name, severity)[0]
        assert _psnr(ours, _imagenet_recipe(name, image, severity)) >= 48, (name, severity)


# ---------------------------------------------------------------- pieces against libraries / loops


def _shuffle_loop(image: np.ndarray, max_delta: int, offsets: np.ndarray) -> np.ndarray:
    """The generator's per-pixel statement, run literally on numpy views."""
    x = image.copy()
    height, width = x.shape[:2]
    for i, h in enumerate(range(height - max_delta, max_delta, -1)):
        for j, w in enumerate(range(width - max_delta, max_delta, -1)):
            dy, dx = offsets[i, j]
            x[h, w], x[h + dy, w + dx] = x[h + dy, w + dx], x[h, w]
    return x


@pytest.mark.parametrize("max_delta", [1, 2, 4])
def test_glass_blur_shuffle_equals_the_generator_loop(max_delta):
    images = _natural_batch(3, side=20, seed=4)
    rng = np.random.default_rng(max_delta)
    side = 20 - 2 * max_delta
    offsets = rng.integers(-max_delta, max_delta, size=(3, side, side, 2))
    expected = np.stack([_shuffle_loop(im, max_delta, off) for im, off in zip(images, offsets)])
    np.testing.assert_array_equal(local_shuffle(images, max_delta, offsets), expected)


def _imagemagick_motion_loop(
    image: np.ndarray, radius: float, sigma: float, angle: float
) -> np.ndarray:
    """MagickCore's MotionBlurImage, pixel by pixel (edge virtual pixels, Q16 output)."""
    width = int(2 * np.ceil(radius) + 1)
    weights = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2))
    weights /= weights.sum()
    point_x = width * math.sin(math.pi * angle / 180)  # C's sin, as MagickCore calls it
    point_y = width * math.cos(math.pi * angle / 180)
    length = np.hypot(point_x, point_y)
    dx = [int(np.ceil(i * point_y / length - 0.5)) for i in range(width)]
    dy = [int(np.ceil(i * point_x / length - 0.5)) for i in range(width)]
    h, w = image.shape[:2]
    out = np.zeros(image.shape)
    for y in range(h):
        for x in range(w):
            for k in range(width):
                yy, xx = min(max(y + dy[k], 0), h - 1), min(max(x + dx[k], 0), w - 1)
                out[y, x] += weights[k] * image[yy, xx]
    quantum = np.floor(np.clip(out, 0, 255) * 257 + 0.5)  # ClampToQuantum at 16 bits
    return (quantum // 257).astype(np.uint8)  # the 8-bit PNG truncates


def test_motion_blur_kernel_follows_imagemagick_semantics():
    images = _natural_batch(4, side=16, seed=6)
    angles = np.array([-40.0, 7.5, 44.0, -30.0])  # -30: i * sin(a) - 0.5 is an integer
    ours = motion_blur_batch(images, 6, 2, angles)
    for image, angle, out in zip(images, angles, ours):
        np.testing.assert_array_equal(out, _imagemagick_motion_loop(image, 6, 2, angle))


def _imagemagick_motion_blur(image: np.ndarray, radius: float, sigma: float, angle: float):
    """The generator's call: wand's MagickMotionBlurImage on a PNG of the image."""
    import ctypes

    from wand.api import library
    from wand.image import Image as WandImage

    library.MagickMotionBlurImage.argtypes = (
        ctypes.c_void_p,
        ctypes.c_double,
        ctypes.c_double,
        ctypes.c_double,
    )
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    with WandImage(blob=buffer.getvalue()) as wand_image:
        library.MagickMotionBlurImage(wand_image.wand, radius, sigma, angle)
        blob = wand_image.make_blob("png")
    return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))


def _imagemagick_available() -> bool:
    try:
        import wand.image  # noqa: F401  (raises ImportError without libMagickWand)
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _imagemagick_available(), reason="Wand / libMagickWand not installed")
@pytest.mark.parametrize(
    "radius, sigma, angle",
    [(15, 5, 12.5), (15, 8, -30.0), (20, 15, 44.9), (10, 3, -1.0), (3, 1, -44.0), (1, 1, 20.0)],
)
def test_motion_blur_equals_imagemagick(radius, sigma, angle):
    """Bit for bit against ImageMagick itself, at ImageNet-C (and CIFAR-10-C) parameters."""
    image = _natural_batch(1, side=96, seed=11)[0]
    expected = _imagemagick_motion_blur(image, radius, sigma, angle)
    ours = motion_blur_batch(image[None], radius, sigma, np.array([angle]))[0]
    np.testing.assert_array_equal(ours, expected)


def test_shot_noise_sampler_is_the_poisson_inverse_transform():
    levels = np.random.default_rng(0).integers(0, 256, size=5000).astype(np.uint8)
    for rate in (500.0, 50.0, 3.0):
        cdf, _ = _poisson_tables(rate)
        draws = _poisson_by_level(levels, rate, np.random.default_rng(1))
        uniform = np.random.default_rng(1).random(levels.size)
        expected = [np.searchsorted(cdf[v], u, side="right") for v, u in zip(levels, uniform)]
        np.testing.assert_array_equal(draws, expected)
        k = np.arange(cdf.shape[1] - 1)
        np.testing.assert_allclose(
            cdf[200, :-1], stats.poisson.cdf(k, 200 / 255 * rate), atol=1e-12
        )
    many = _poisson_by_level(np.full(200_000, 128, np.uint8), 100.0, np.random.default_rng(2))
    rate = 128 / 255 * 100
    assert many.mean() == pytest.approx(rate, rel=0.01)
    assert many.var() == pytest.approx(rate, rel=0.03)


def test_spatter_edge_chain_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    liquid = ndimage.gaussian_filter(rng.normal(0.65, 0.3, (40, 32, 32)), (0, 1, 1), mode="nearest")
    liquid[liquid < 0.69] = 0
    liquid_u8 = (liquid * 255).astype(np.uint8)
    edges = spatter_module.canny_edges(liquid_u8, 50, 150)
    np.testing.assert_array_equal(edges, np.stack([cv2.Canny(im, 50, 150) > 0 for im in liquid_u8]))
    levels = rng.integers(0, 21, (20, 32, 32)).astype(np.uint8)
    levels[0] = 7  # a flat image
    expected = np.stack([cv2.equalizeHist(im) for im in levels])
    np.testing.assert_array_equal(spatter_module.equalize_hist(levels), expected)


def test_spatter_chain_is_exact_with_opencvs_distance_transform(monkeypatch):
    # The Euclidean transform stands in for OpenCV's 5x5 chamfer one; with the chamfer
    # transform plugged in, every other step reproduces OpenCV exactly.
    cv2 = pytest.importorskip("cv2")

    def chamfer(edges, cap):
        inverted = [(255 * ~e).astype(np.uint8) for e in edges]
        return np.minimum(
            np.stack([cv2.distanceTransform(im, cv2.DIST_L2, 5) for im in inverted]), cap
        )

    def opencv_chain(layer):
        dist = cv2.distanceTransform(255 - cv2.Canny(layer, 50, 150), cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
        emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
        return cv2.blur(cv2.filter2D(dist, cv2.CV_8U, emboss), (3, 3)).astype(np.float32)

    rng = np.random.default_rng(4)
    liquid = ndimage.gaussian_filter(rng.normal(0.65, 0.3, (30, 32, 32)), (0, 1, 1), mode="nearest")
    liquid[liquid < 0.69] = 0
    liquid_u8 = (liquid * 255).astype(np.uint8)
    monkeypatch.setattr(spatter_module, "capped_edge_distance", chamfer)
    expected = np.stack([opencv_chain(im) for im in liquid_u8])
    np.testing.assert_array_equal(spatter_module._emboss_map(liquid_u8), expected)


def test_jpeg_equals_pil_image_by_image(monkeypatch):
    images = _natural_batch(4, side=32, seed=8)
    for severity in SEVERITIES:
        quality = CIFAR.table["jpeg_compression"][severity - 1]
        expected = np.stack([jpeg_roundtrip_pil(image, quality) for image in images])
        np.testing.assert_array_equal(corrupt(images, "jpeg_compression", severity), expected)
        with monkeypatch.context() as patch:  # the path taken without OpenCV
            patch.setattr(digital_module, "_has_opencv", lambda: False)
            np.testing.assert_array_equal(corrupt(images, "jpeg_compression", severity), expected)
        buffer = io.BytesIO()  # and jpeg_roundtrip_pil is PIL's plain round trip
        Image.fromarray(images[0]).save(buffer, "JPEG", quality=quality)
        np.testing.assert_array_equal(expected[0], np.asarray(Image.open(buffer)))


# ---------------------------------------------------------------- frost textures


def test_frost_from_a_texture_directory(tmp_path):
    colour = np.array([200, 210, 220], dtype=np.uint8)
    Image.fromarray(np.broadcast_to(colour, (300, 400, 3)).copy()).save(tmp_path / "flat.png")
    images = _natural_batch(5)
    frost = make_frost(tmp_path)
    for severity in SEVERITIES:
        image_weight, frost_weight = CIFAR.table["frost"][severity - 1]
        expected = np.clip(image_weight * images + frost_weight * colour.astype(np.float64), 0, 255)
        out = frost(images, severity, np.random.default_rng(0))
        np.testing.assert_array_equal(out, expected.astype(np.uint8))
    via_api = corrupt(images, "frost", 2, seed=1, frost_textures=tmp_path)
    np.testing.assert_array_equal(via_api, frost(images, 2, np.random.default_rng(0)))
    assert not np.array_equal(via_api, corrupt(images, "frost", 2, seed=1))


def test_frost_photographs_are_resized_as_opencv_does(tmp_path):
    """The generator's cv2.resize(frost, (0, 0), fx=0.2, fy=0.2), on an odd-sized photo.

    With a scale factor OpenCV samples every 1 / fx source pixels; sampling every
    in / out pixels instead (527 / 105 here) drifts by a pixel across the texture.
    """
    cv2 = pytest.importorskip("cv2")
    photo = _natural_batch(1, side=527, seed=13)[0][:350]
    Image.fromarray(photo).save(tmp_path / "frost4.png")
    ours = FrostTextures(tmp_path).textures(CIFAR.frost_texture_scale)[0]
    expected = cv2.resize(photo, (0, 0), fx=0.2, fy=0.2)
    np.testing.assert_array_equal(ours, expected)


def test_frost_texture_directory_errors(tmp_path):
    with pytest.raises(EdgepruneError, match="not found"):
        make_frost(tmp_path / "missing")
    with pytest.raises(EdgepruneError, match="no texture images"):
        make_frost(tmp_path)
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(EdgepruneError, match="smaller than"):
        make_frost(tmp_path)(_natural_batch(2), 1, np.random.default_rng(0))  # 40 * 0.2 < 32


def test_procedural_frost_looks_like_frost():
    images = np.zeros((256, 32, 32, 3), np.uint8)
    layer = corrupt(images, "frost", 2, seed=3).astype(np.float64) / 0.3  # the frost layer itself
    means = layer.reshape(-1, 3).mean(axis=0)
    assert 120 < means.mean() < 200  # bright
    assert means[2] > means[1] > means[0]  # bluish white
    assert 10 < layer.reshape(len(layer), -1).std(axis=1).mean() < 45  # textured, not flat


def test_corruption_sources_are_a_registry_that_the_configuration_reads(tmp_path):
    from edgeprune.data.corruption_source import (
        CORRUPTION_SOURCES,
        parse_corruption_source,
        source_syntax,
    )
    from edgeprune.errors import EdgepruneError

    assert CORRUPTION_SOURCES.names() == ["auto", "cifar10-c", "generate", "none"]
    assert source_syntax().startswith("auto (generate:1000") and source_syntax().endswith("| none")
    assert parse_corruption_source("auto", (32, 32, 3), 359).limit == 359
    assert parse_corruption_source("auto", (224, 224, 3), 5000).limit == 100
    assert parse_corruption_source("generate:50", (32, 32, 3), 359).limit == 50
    assert parse_corruption_source("", (32, 32, 3), 359).kind == "none"
    folder = parse_corruption_source(f"cifar10-c:{tmp_path}", (32, 32, 3), 10)
    assert folder.kind == "folder" and folder.folder == tmp_path
    with pytest.raises(EdgepruneError, match="unknown corruption source 'generat'.*did you mean"):
        parse_corruption_source("generat:5", (32, 32, 3), 359)
