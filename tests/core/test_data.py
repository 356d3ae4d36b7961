"""Tests for vitlib.data: every dataset, on data the tests make themselves (never the network)."""

import hashlib
import io
import pickle
import tarfile
import urllib.error
import urllib.request

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vitlib import data  # noqa: E402
from vitlib.files import CorruptArchiveError, DownloadError  # noqa: E402
from vitlib.fractals import FractalDataset, random_ifs, render_ifs  # noqa: E402
from vitlib.data import (  # noqa: E402
    download_cifar10,
    load_cifar10,
    load_digits,
    load_image_folder,
    resize_images,
    sample_photo,
    sample_photos,
    split_dataset,
)

# ----------------------------------------------------------------------------- digits


def test_load_digits_shapes_dtypes_range():
    x_train, y_train, x_test, y_test = load_digits()
    assert x_train.shape == (1347, 1, 8, 8) and x_test.shape == (450, 1, 8, 8)
    assert y_train.shape == (1347,) and y_test.shape == (450,)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0  # raw 0..16 scaled by 1/16
    assert set(y_train.tolist()) == set(range(10))
    # the raw values are multiples of 1/16
    assert torch.allclose(x_train * 16, (x_train * 16).round())


def test_load_digits_is_the_sklearn_data_split_stratified_and_deterministic():
    from sklearn.datasets import load_digits as sk

    raw = sk()
    x_train, y_train, x_test, y_test = load_digits()
    # every image appears exactly once across the two splits
    all_images = torch.cat([x_train, x_test]).flatten(1) * 16
    expected = torch.from_numpy(raw.data.astype(np.float32))
    assert sorted(map(tuple, all_images.tolist())) == sorted(map(tuple, expected.tolist()))
    # stratified: each class's share in test matches its share overall within one image
    for k in range(10):
        share = (raw.target == k).mean()
        assert abs((y_test == k).float().sum().item() - share * 450) <= 1
    again = load_digits()
    assert torch.equal(x_train, again[0]) and torch.equal(y_test, again[3])
    other = load_digits(seed=1)
    assert not torch.equal(y_test, other[3])


def test_load_digits_upsampling_and_channels():
    x8, *_ = load_digits()
    x_train, y_train, x_test, y_test = load_digits(image_size=16, channels=3)
    assert x_train.shape == (1347, 3, 16, 16) and x_test.shape == (450, 3, 16, 16)
    assert torch.equal(x_train[:, 0], x_train[:, 1]) and torch.equal(x_train[:, 0], x_train[:, 2])
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    # bilinear upsampling of the same images, in the same order
    expected = torch.nn.functional.interpolate(x8, size=(16, 16), mode="bilinear", align_corners=False)
    assert torch.allclose(x_train[:, 0], expected[:, 0], atol=1e-6)
    assert torch.allclose(x_train.mean(dim=(1, 2, 3)), x8.mean(dim=(1, 2, 3)), atol=0.03)


def test_load_digits_train_size_keeps_test_split():
    full = load_digits()
    small = load_digits(train_size=100)
    assert small[0].shape == (100, 1, 8, 8) and torch.equal(small[3], full[3])
    assert set(small[1].tolist()) == set(range(10))  # stratified: every class present
    assert load_digits(train_size=0.5)[0].shape[0] == round(0.5 * 1347)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(image_size=4), "image_size"),
        (dict(channels=2), "channels"),
        (dict(test_fraction=1.5), "test_fraction"),
        (dict(train_size=5), "train_size"),
    ],
)
def test_load_digits_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_digits(**kwargs)


def test_split_dataset_and_resize():
    x = torch.rand(40, 1, 4, 4)
    y = torch.arange(40) % 4
    x_tr, y_tr, x_te, y_te = split_dataset(x, y, test_fraction=0.25, seed=0)
    assert len(x_te) == 10 and sorted(torch.bincount(y_te).tolist()) == [2, 2, 3, 3]
    assert len(set(map(tuple, x_tr.flatten(1).tolist())) & set(map(tuple, x_te.flatten(1).tolist()))) == 0
    with pytest.raises(ValueError, match="labels"):
        split_dataset(x, y[:5])
    assert resize_images(x, 4) is x
    big = resize_images(x, 8)
    assert big.shape == (40, 1, 8, 8)
    constant = torch.full((1, 3, 5, 7), 0.25)
    assert torch.allclose(resize_images(constant, 3), torch.full((1, 3, 3, 3), 0.25))
    with pytest.raises(ValueError, match="B, C, H, W"):
        resize_images(torch.rand(4, 4), 8)


# ----------------------------------------------------------------------------- formula-generated images


def test_random_ifs_is_contractive_and_seeded():
    maps = random_ifs(np.random.default_rng(3), min_maps=2, max_maps=6)
    assert maps.ndim == 2 and maps.shape[1] == 6 and 2 <= len(maps) <= 6
    for m in maps:
        assert np.linalg.norm(m[:4].reshape(2, 2), ord=2) < 1.0
    assert np.array_equal(maps, random_ifs(np.random.default_rng(3), min_maps=2, max_maps=6))
    with pytest.raises(ValueError, match="min_maps"):
        random_ifs(np.random.default_rng(0), min_maps=3, max_maps=2)


def test_render_ifs_draws_the_attractor():
    # Sierpinski triangle: three half-size copies; its attractor fills a known share of the square
    sierpinski = np.array([[0.5, 0, 0, 0.5, 0, 0], [0.5, 0, 0, 0.5, 0.5, 0], [0.5, 0, 0, 0.5, 0.25, 0.5]])
    image = render_ifs(sierpinski, image_size=32, num_points=20000, rng=np.random.default_rng(0))
    assert image.shape == (32, 32) and image.dtype == np.float32
    assert image.max() == 1.0 and image.min() == 0.0
    filled = image > 0
    assert 0.2 < filled.mean() < 0.6  # a triangle with holes, not a blob and not a dot
    assert filled[-1].mean() > 0.9  # the base (bottom row: y points up) is a full line
    assert filled[0].sum() <= 3  # the apex is a point
    assert not filled[20:26, 14:18].any()  # the big central hole, upside-down triangle under the apex's middle


def test_fractal_dataset_deterministic_balanced_and_class_structured():
    ds = FractalDataset(num_classes=4, images_per_class=6, image_size=24, seed=1)
    assert len(ds) == 24
    x, y = ds[5]
    assert x.shape == (1, 24, 24) and x.dtype == torch.float32 and y == 5 % 4
    assert 0.0 <= x.min() and x.max() == 1.0
    same = FractalDataset(num_classes=4, images_per_class=6, image_size=24, seed=1)
    assert torch.equal(same[17][0], ds[17][0])  # a pure function of (seed, class, instance): any order
    assert not torch.equal(FractalDataset(4, 6, 24, seed=2)[5][0], x)
    images, labels = ds.tensors()
    assert images.shape == (24, 1, 24, 24) and torch.bincount(labels).tolist() == [6] * 4
    # instances of a class differ from each other, but resemble each other more than other classes
    flat = torch.nn.functional.normalize((images > 0).float().flatten(1), dim=1)
    sim = flat @ flat.T
    same_class = labels[:, None] == labels[None, :]
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool)
    assert (sim[same_class & off_diagonal] < 0.999).any()
    assert sim[same_class & off_diagonal].mean() > sim[~same_class].mean() + 0.1
    rgb = FractalDataset(num_classes=2, images_per_class=1, image_size=16, channels=3)[0][0]
    assert rgb.shape == (3, 16, 16) and torch.equal(rgb[0], rgb[2])
    with pytest.raises(IndexError):
        ds[24]


def test_fractal_dataset_bad_input_and_speed():
    with pytest.raises(ValueError, match="num_classes"):
        FractalDataset(num_classes=0)
    with pytest.raises(ValueError, match="channels"):
        FractalDataset(channels=4)
    with pytest.raises(ValueError, match="min_fill"):
        FractalDataset(min_fill=0.9)


# ----------------------------------------------------------------------------- sample photos


def test_sample_photos():
    flower = sample_photo("flower")
    assert flower.shape == (3, 427, 640) and flower.dtype == torch.float32
    assert 0.0 <= flower.min() and flower.max() <= 1.0 and flower.std() > 0.1
    small = sample_photo("temple", size=64)
    assert small.shape == (3, 64, 64)
    both = sample_photos(size=32)
    assert set(both) == {"flower", "temple"} and both["flower"].shape == (3, 32, 32)
    assert not torch.equal(both["flower"], both["temple"])
    with pytest.raises(ValueError, match="flower"):
        sample_photo("cat")


# ----------------------------------------------------------------------------- CIFAR-10 on a fake archive


def _fake_batch(n: int, offset: int) -> dict:
    """A batch in the real format: bytes keys; data (n, 3072) uint8 in channel-major order."""
    labels = [(offset + i) % 10 for i in range(n)]
    images = np.zeros((n, 3, 32, 32), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, label % 3] = 255  # image of class k is pure red / green / blue by k % 3
        images[i, :, 0, 0] = label  # and carries its label in the top-left pixel
    return {b"batch_label": b"fake", b"labels": labels, b"data": images.reshape(n, 3072),
            b"filenames": [b"x.png"] * n}


def _fake_cifar_archive(path, per_batch: int = 6, replace: dict | None = None) -> bytes:
    with tarfile.open(path, "w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for j, name in enumerate(names):
            raw = (replace or {}).get(name) or pickle.dumps(_fake_batch(per_batch, j), protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path.read_bytes()


def test_load_cifar10_reads_the_pickle_archive(tmp_path):
    raw = _fake_cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    md5 = hashlib.md5(raw).hexdigest()
    x_train, y_train, x_test, y_test = load_cifar10(tmp_path, md5=md5)
    assert x_train.shape == (30, 3, 32, 32) and x_test.shape == (6, 3, 32, 32)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert y_train[:6].tolist() == [0, 1, 2, 3, 4, 5] and y_test.tolist() == [5, 6, 7, 8, 9, 0]
    # channel order and pixel layout survive: class k is pure channel k % 3
    for image, label in zip(x_train, y_train):
        assert image[label % 3, 5, 5] == 1.0 and image[:, 5, 5].sum() == 1.0
        assert torch.allclose(image[(label + 1) % 3, 0, 0] * 255, label.float())
    small = load_cifar10(tmp_path, md5=md5, image_size=16, train_size=10)
    assert small[0].shape == (10, 3, 16, 16) and small[2].shape == (6, 3, 16, 16)


def test_load_cifar10_from_an_extracted_folder(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    _fake_cifar_archive(archive)
    expected = load_cifar10(tmp_path, md5=None)
    extracted = tmp_path / "extracted"
    with tarfile.open(archive) as tar:
        tar.extractall(extracted, filter="data")
    got = load_cifar10(extracted)  # no archive there: the folder is read, no checksum needed
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    (extracted / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(CorruptArchiveError, match="data_batch_3"):
        load_cifar10(extracted)


def test_load_cifar10_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_cifar10(tmp_path)


def test_corrupt_archive_is_reported_with_path_and_fix(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    raw = _fake_cifar_archive(path)
    path.write_bytes(raw[: len(raw) // 2])  # truncated download
    with pytest.raises(CorruptArchiveError, match="corrupt or truncated") as info:
        load_cifar10(tmp_path, md5=None)
    assert str(path) in str(info.value) and "download it again" in str(info.value)
    assert isinstance(info.value, ValueError)
    # with the checksum on (the default for the real file), the mismatch is caught before reading
    with pytest.raises(CorruptArchiveError, match="md5"):
        load_cifar10(tmp_path, md5=hashlib.md5(raw).hexdigest())
    path.write_bytes(b"this is not a tar file at all")
    with pytest.raises(CorruptArchiveError, match=str(path)):
        load_cifar10(tmp_path, md5=None)


def test_archive_with_code_in_its_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
    _fake_cifar_archive(tmp_path / "cifar-10-python.tar.gz", replace={"test_batch": evil})
    with pytest.raises(CorruptArchiveError, match="refusing"):
        load_cifar10(tmp_path, md5=None)


def test_archive_missing_a_batch(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        raw = pickle.dumps(_fake_batch(2, 0), protocol=2)
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    with pytest.raises(CorruptArchiveError, match="not a CIFAR-10"):
        load_cifar10(tmp_path, md5=None)


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_verifies_checksum_and_loads(tmp_path, monkeypatch):
    raw = _fake_cifar_archive(tmp_path / "source.tar.gz")
    md5 = hashlib.md5(raw).hexdigest()
    urls = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: urls.append(url) or _FakeResponse(raw))
    root = tmp_path / "data"
    url = "https://example.invalid/cifar-10-python.tar.gz"
    x_train, *_ = load_cifar10(root, download=True, url=url, md5=md5)
    assert urls == [url] and x_train.shape == (30, 3, 32, 32)
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-python.tar.gz"]  # no temp file left
    load_cifar10(root, download=True, url=url, md5=md5)
    assert len(urls) == 1  # already there: not downloaded again


def test_download_checksum_mismatch(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: _FakeResponse(b"tampered bytes"))
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="checksum mismatch"):
        download_cifar10(root, md5=data.CIFAR10_MD5)
    assert list(root.iterdir()) == []  # neither the bad file nor a temp file stays


def test_download_offline_gives_a_clear_error(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="offline") as info:
        load_cifar10(root, download=True)
    assert "cifar-10-python.tar.gz" in str(info.value) and data.CIFAR10_URL in str(info.value)
    assert list(root.iterdir()) == []


# ----------------------------------------------------------------------------- image folder


def test_load_image_folder(tmp_path):
    from PIL import Image

    (tmp_path / "roses").mkdir()
    (tmp_path / "daisy").mkdir()
    (tmp_path / ".ipynb_checkpoints").mkdir()  # hidden folders are not classes
    red = np.zeros((12, 20, 3), dtype=np.float32)
    red[..., 0] = 1.0
    plt.imsave(tmp_path / "roses" / "a.png", red)
    plt.imsave(tmp_path / "roses" / "b.png", red * 0.5)
    blue = np.zeros((10, 10, 3), dtype=np.uint8)
    blue[..., 2] = 255
    Image.fromarray(blue).save(tmp_path / "daisy" / "c.jpg", quality=95)
    (tmp_path / "daisy" / "notes.txt").write_text("not an image")

    images, labels, names = load_image_folder(tmp_path, image_size=8)
    assert names == ["daisy", "roses"]
    assert images.shape == (3, 3, 8, 8) and images.dtype == torch.float32
    assert labels.tolist() == [0, 1, 1]
    assert images[0, 2].mean() > 0.9 and images[0, :2].mean() < 0.1  # the blue jpg
    assert torch.allclose(images[1, 0], torch.ones(8, 8)) and images[1, 1:].max() == 0  # the red png
    assert abs(images[2, 0].mean().item() - 0.5) < 0.01
    grey, _, _ = load_image_folder(tmp_path, image_size=4, channels=1)
    assert grey.shape == (3, 1, 4, 4)


def test_load_image_folder_normalises_as_it_reads_and_split_indices(tmp_path):
    for name, value in (("a", 0), ("b", 255)):
        (tmp_path / name).mkdir()
        for i in range(4):
            plt.imsave(tmp_path / name / f"{i}.png", np.full((6, 6, 3), value, dtype=np.uint8))
    x, y, _ = load_image_folder(tmp_path, image_size=4, mean=0.5, std=0.5)
    assert torch.allclose(x[y == 0], torch.tensor(-1.0)) and torch.allclose(x[y == 1], torch.tensor(1.0))
    train_idx, test_idx = data.split_indices(y, test_fraction=0.5)
    assert sorted(train_idx.tolist() + test_idx.tolist()) == list(range(8))
    assert y[test_idx].tolist() == [0, 0, 1, 1]  # stratified
    x_tr, _, x_te, _ = split_dataset(x, y, test_fraction=0.5)
    assert torch.equal(x_tr, x[train_idx]) and torch.equal(x_te, x[test_idx])  # the same split
    with pytest.raises(ValueError, match="both mean and a positive std"):
        load_image_folder(tmp_path, mean=0.5)


_PEAK_SCRIPT = """
import resource, sys
import torch
from vitlib.data import load_image_folder
load_image_folder(sys.argv[1], image_size=8)  # warm up: PIL, the resize kernels
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
images, labels, _ = load_image_folder(sys.argv[1], image_size=int(sys.argv[2]), mean=0.5, std=0.5)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, images.numel() * images.element_size())
"""


def test_load_image_folder_peak_memory_is_one_copy_of_the_data(tmp_path):
    """Reading and normalising N images costs one float tensor, not a list + a stacked copy + temporaries.

    (The flowers at 384 px are 6.5 GB as one float tensor: two or three copies do not fit in Colab's memory.)
    Measured in a fresh process: the growth of its peak resident memory while loading 160 images of
    3 x 256 x 256 floats (126 MB), against the size of the result.
    """
    import subprocess
    import sys

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(80):
            plt.imsave(tmp_path / name / f"{i}.png", np.random.default_rng(i).random((16, 16, 3)))
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(tmp_path), "256"], capture_output=True, text=True,
                         check=True)
    growth, size = map(int, out.stdout.split())
    assert size == 160 * 3 * 256 * 256 * 4
    assert growth < 1.3 * size, f"loading grew the peak memory by {growth / size:.2f}x the data's size"


def test_load_image_folder_bad_input(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="class sub-folders"):
        load_image_folder(tmp_path)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match="no .*images"):
        load_image_folder(tmp_path)


# ----------------------------------------------------------------------------- flowers download


def _flowers_archive() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("daisy", "roses"):
            image = io.BytesIO()
            Image.new("RGB", (20, 12), (200, 30, 30)).save(image, format="JPEG")
            info = tarfile.TarInfo(f"flower_photos/{name}/a.jpg")
            info.size = len(image.getvalue())
            tar.addfile(info, io.BytesIO(image.getvalue()))
    return buffer.getvalue()


def test_download_flowers_records_checksum_extracts_and_loads(tmp_path, monkeypatch):
    raw = _flowers_archive()
    fetched = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: fetched.append(url) or _FakeResponse(raw))
    with pytest.warns(UserWarning, match="no checksum known"):
        folder = data.download_flowers(tmp_path)
    assert folder == tmp_path / "flower_photos" and fetched == [data.FLOWERS_URL]
    x, y, names = load_image_folder(folder, image_size=8)
    assert names == ["daisy", "roses"] and x.shape == (2, 3, 8, 8)
    assert data.download_flowers(tmp_path) == folder and len(fetched) == 1  # the second call downloads nothing
    (tmp_path / "flower_photos.tgz").write_bytes(raw[:-20])  # damaged afterwards
    with pytest.raises(CorruptArchiveError, match="sha256"):
        data.download_flowers(tmp_path)


def test_download_flowers_refuses_paths_outside_root(tmp_path, monkeypatch):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    raw = buffer.getvalue()
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: _FakeResponse(raw))
    with pytest.raises(CorruptArchiveError):
        data.download_flowers(tmp_path / "root", sha256=hashlib.sha256(raw).hexdigest())
    assert not (tmp_path / "evil.txt").exists()


def test_fractal_dataset_flips_only_when_asked():
    plain = FractalDataset(num_classes=3, images_per_class=8, image_size=16, seed=0)
    flipped = FractalDataset(num_classes=3, images_per_class=8, image_size=16, seed=0, flip=True)
    pairs = [(plain[i][0], flipped[i][0]) for i in range(len(plain))]
    mirrored = [torch.equal(b, a.flip(-1)) and not torch.equal(a, b) for a, b in pairs]
    assert all(torch.equal(a, b) or m for (a, b), m in zip(pairs, mirrored))  # the same orbit, maybe mirrored
    assert 0 < sum(mirrored) < len(pairs)  # about half of them
    with pytest.raises(TypeError, match="flip must be True or False"):
        FractalDataset(flip="yes")
