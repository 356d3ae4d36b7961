"""Datasets, all offline by default.

    load_digits         scikit-learn's bundled handwritten digits: 1,797 real 8x8 images, 10 classes
    sample_photo(s)     the two photos bundled with scikit-learn (a flower and a temple)
    load_cifar10        CIFAR-10 from its python-pickle archive (checksum-verified download)
    load_image_folder   root/class_name/*.png|jpg -> tensors + class names
    download_flowers    the 5-class flowers photos (needs a network), for load_image_folder

Images are always float32 tensors of shape (B, C, H, W) (or (C, H, W) for one image)
with values in [0, 1]; labels are int64 tensors of shape (B,).
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from sklearn.model_selection import train_test_split

from .files import CorruptArchiveError, download_file, verify_download
from .validate import check_channels, check_image_size, check_images, check_int, check_number, check_tensor

__all__ = [
    "load_digits",
    "resize_images",
    "split_dataset",
    "split_indices",
    "sample_photo",
    "sample_photos",
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "CIFAR10_CLASSES",
    "download_cifar10",
    "load_cifar10",
    "FLOWERS_URL",
    "download_flowers",
    "load_image_folder",
    "DIGITS_VALIDATION_SIZE",
    "digit_splits",
    "labelled_subset",
    "load_labelled_digits",
]


# ----------------------------------------------------------------------------- helpers


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize to size x size: (B, C, H, W) -> (B, C, size, size). No-op if already that size."""
    check_images(images)
    check_image_size(size)
    if images.shape[-2:] == (size, size):
        return images
    antialias = size < min(images.shape[-2:])  # smooth before shrinking, so no aliasing
    out = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=antialias)
    return out.clamp(0.0, 1.0)


def _check_labels(labels) -> None:
    check_tensor(labels, "labels", "(B,)")
    if labels.ndim != 1 or labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"labels must be integer class indices of shape (B,), got {labels.dtype} of shape "
                         f"{tuple(labels.shape)}; use labels.long() (and labels.flatten() for (B, 1))")


def _check_seed(seed) -> None:
    check_int(seed, "seed", minimum=0)


def _to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey (B, 1, H, W) -> (B, channels, H, W) by repeating; RGB -> grey by the luma weights."""
    check_channels(channels)
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1:
        return repeat(images, "b 1 h w -> b c h w", c=channels)
    luma = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype)
    return torch.einsum("bchw,c->bhw", images, luma)[:, None]


def split_indices(labels: torch.Tensor, test_fraction: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, stratified split as indices (scikit-learn's train_test_split): -> train_idx, test_idx, sorted.

    No image is copied: use the indices with torch.utils.data.Subset, or index the tensors yourself.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}; use e.g. 0.2")
    index = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        index, test_size=test_fraction, random_state=seed, stratify=np.asarray(labels)
    )
    return torch.from_numpy(np.sort(train_idx)), torch.from_numpy(np.sort(test_idx))


def split_dataset(
    images: torch.Tensor, labels: torch.Tensor, test_fraction: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed, stratified split (split_indices): -> x_train, y_train, x_test, y_test (copies of the images)."""
    check_tensor(images, "images", "(B, C, H, W)")
    _check_labels(labels)
    _check_seed(seed)
    check_number(test_fraction, "test_fraction")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}; use e.g. 0.2")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels; they must match")
    train_idx, test_idx = split_indices(labels, test_fraction, seed)
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]


# ----------------------------------------------------------------------------- digits


def load_digits(
    image_size: int = 8,
    channels: int = 1,
    test_fraction: float = 0.25,
    seed: int = 0,
    train_size: int | float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's handwritten digits (1,797 real 8x8 images, 10 classes), split once, stratified.

    Returns x_train (B, C, S, S) float32 in [0, 1], y_train (B,) int64, x_test, y_test.
    image_size > 8 upsamples bilinearly; channels=3 repeats the grey channel.
    train_size (an int count or a fraction) keeps a stratified subset of the training split, for
    "accuracy as the data grows" experiments; the test split stays the same.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    check_image_size(image_size, smallest=8)
    check_channels(channels)
    _check_seed(seed)
    _check_train_size(train_size)
    digits = sklearn_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]  # (1797, 1, 8, 8), 0..16 -> [0, 1]
    labels = torch.from_numpy(digits.target.astype(np.int64))  # (1797,)
    x_train, y_train, x_test, y_test = split_dataset(images, labels, test_fraction, seed)
    if train_size is not None:
        x_train, y_train = _subsample(x_train, y_train, train_size, seed)
    prepare = lambda x: _to_channels(resize_images(x, image_size), channels).contiguous()  # noqa: E731
    return prepare(x_train), y_train, prepare(x_test), y_test


def _check_train_size(train_size) -> None:
    """None, a count >= 1 or a fraction in (0, 1] (the count against the class number is checked later)."""
    if train_size is None or isinstance(train_size, float):
        if train_size is not None and not 0 < train_size <= 1:
            raise ValueError(f"train_size as a fraction must be in (0, 1], got {train_size}; e.g. 0.5, or a count "
                             "such as 100")
        return
    check_int(train_size, "train_size")


def _subsample(x: torch.Tensor, y: torch.Tensor, size: int | float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A stratified subset of `size` samples (an int) or of that fraction (a float in (0, 1])."""
    n, k = len(y), int(y.max()) + 1
    count = round(size * n) if isinstance(size, float) else size
    if not k <= count <= n:
        raise ValueError(f"train_size {size!r} gives {count} images; use between {k} (one per class) and {n}")
    if count == n:
        return x, y
    stratify = y.numpy() if torch.bincount(y).min() >= 2 else None  # scikit-learn needs 2 per class
    keep, _ = train_test_split(np.arange(n), train_size=count, random_state=seed, stratify=stratify)
    keep = np.sort(keep)
    return x[keep], y[keep]


# ----------------------------------------------------------------------------- sample photos

_SAMPLE_PHOTOS = {"flower": "flower.jpg", "temple": "china.jpg"}


def sample_photo(name: str = "flower", size: int | None = None) -> torch.Tensor:
    """One of the two photos bundled with scikit-learn, as (3, H, W) float32 in [0, 1].

    name: "flower" or "temple" (scikit-learn's china.jpg). Both are 427 x 640. With `size`, the
    photo is centre-cropped to a square and resized to size x size (e.g. 224 for a ViT-B/16).
    """
    if name not in _SAMPLE_PHOTOS:
        raise ValueError(f"unknown sample photo {name!r}; use one of {list(_SAMPLE_PHOTOS)}")
    if size is not None:
        check_image_size(size)
    from sklearn.datasets import load_sample_image

    photo = torch.from_numpy(load_sample_image(_SAMPLE_PHOTOS[name]).astype(np.float32) / 255.0)
    photo = rearrange(photo, "h w c -> 1 c h w")
    if size is not None:
        photo = resize_images(_center_crop(photo), size)
    return photo[0]


def sample_photos(size: int | None = None) -> dict[str, torch.Tensor]:
    """Both bundled photos: {"flower": (3, H, W), "temple": (3, H, W)}."""
    return {name: sample_photo(name, size) for name in _SAMPLE_PHOTOS}


def _center_crop(images: torch.Tensor) -> torch.Tensor:
    """The largest centred square: (B, C, H, W) -> (B, C, s, s), s = min(H, W)."""
    h, w = images.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return images[..., top : top + s, left : left + s]


# ----------------------------------------------------------------------------- CIFAR-10

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR10_DIR = "cifar-10-batches-py"
_CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_CIFAR10_TEST = ["test_batch"]


def download_cifar10(root: str | os.PathLike = "downloads", url: str = CIFAR10_URL,
                     md5: str | None = CIFAR10_MD5) -> Path:
    """Download the CIFAR-10 python archive into `root` (if not there yet) and verify its md5.

    -> the path of cifar-10-python.tar.gz (see `download_file`: atomic, verified).
    Raises DownloadError when offline, ValueError on a checksum mismatch.
    """
    return download_file(url, Path(root) / Path(url).name, md5, "md5", hint="then call again with download=False")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain data and numpy arrays: a pickle from the internet must not run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"): ("numpy", "ndarray"),
        ("numpy", "dtype"): ("numpy", "dtype"),
        ("_codecs", "encode"): ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset pickle")
        module, name = self._ALLOWED[(module, name)]
        return super().find_class(module, name)


def _read_cifar_batch(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch pickle -> images (n, 3, 32, 32) uint8, labels (n,) int64."""
    batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}  # Python 2 pickles: bytes keys
    data = np.asarray(batch["data"], dtype=np.uint8)  # (n, 3072): 1024 red, 1024 green, 1024 blue, row-major
    labels = np.asarray(batch["labels"], dtype=np.int64)
    return rearrange(data, "n (c h w) -> n c h w", c=3, h=32, w=32), labels


def _read_cifar_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file of an extracted cifar-10-batches-py folder."""
    try:
        return _read_cifar_batch(path.read_bytes())
    except FileNotFoundError as error:
        raise CorruptArchiveError(f"{path} is missing from the extracted CIFAR-10 folder {path.parent}; "
                                  "delete the folder and load from the archive (download=True)") from error
    except (pickle.UnpicklingError, EOFError, KeyError, AttributeError, TypeError, ValueError) as error:
        raise CorruptArchiveError(f"{path} is corrupt ({error}); delete {path.parent} and load from the "
                                  "archive (download=True)") from error


def _read_cifar_archive(path: Path, names: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    fix = f"delete {path} and download it again (load_cifar10(root, download=True))"
    try:
        with tarfile.open(path, "r:gz") as tar:
            out = []
            for name in names:
                member = tar.extractfile(f"{_CIFAR10_DIR}/{name}")
                if member is None:
                    raise KeyError(name)
                out.append(_read_cifar_batch(member.read()))
            return out
    except (KeyError, AttributeError, TypeError) as error:
        raise CorruptArchiveError(f"{path} is not a CIFAR-10 python archive ({error!r} is missing or malformed); "
                                  f"{fix}") from error
    except (tarfile.TarError, EOFError, zlib.error, OSError, pickle.UnpicklingError, ValueError) as error:
        raise CorruptArchiveError(f"{path} is corrupt or truncated ({error}); {fix}") from error


def load_cifar10(
    root: str | os.PathLike = "downloads",
    download: bool = False,
    image_size: int = 32,
    train_size: int | float | None = None,
    url: str = CIFAR10_URL,
    md5: str | None = CIFAR10_MD5,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """CIFAR-10 (50,000 train + 10,000 test 32x32 RGB images) from root/cifar-10-python.tar.gz.

    Returns x_train (50000, 3, S, S) float32 in [0, 1], y_train (50000,) int64, x_test, y_test;
    class names are CIFAR10_CLASSES. download=True fetches the archive (170 MB) if it is missing.
    The archive's md5 is checked before reading (pass md5=None to skip); a damaged archive raises
    CorruptArchiveError naming the file and the fix. train_size keeps a stratified subset.
    """
    check_image_size(image_size)
    _check_train_size(train_size)
    _check_seed(seed)
    path = Path(root) / Path(url).name
    folder = Path(root) / _CIFAR10_DIR
    if not path.exists() and folder.is_dir():  # already extracted (e.g. by torchvision): read the files
        batches = [_read_cifar_file(folder / name) for name in _CIFAR10_TRAIN + _CIFAR10_TEST]
        return _cifar_tensors(batches, image_size, train_size, seed)
    if not path.exists():
        if not download:
            raise FileNotFoundError(
                f"{path} not found; call load_cifar10({str(root)!r}, download=True) (needs internet), "
                f"or download {url} yourself and put it there"
            )
        path = download_cifar10(root, url, md5)
    if md5 is not None:
        verify_download(path, md5, "md5", fix=f"delete it and download it again (load_cifar10({str(root)!r}, "
                                              "download=True))")
    batches = _read_cifar_archive(path, _CIFAR10_TRAIN + _CIFAR10_TEST)
    return _cifar_tensors(batches, image_size, train_size, seed)


def _cifar_tensors(batches, image_size, train_size, seed):
    """Six (images, labels) uint8 batches (five train, one test) -> x_train, y_train, x_test, y_test."""

    def to_tensors(parts):
        images = torch.from_numpy(np.concatenate([x for x, _ in parts])).float() / 255.0  # (n, 3, 32, 32)
        return resize_images(images, image_size), torch.from_numpy(np.concatenate([y for _, y in parts]))

    x_train, y_train = to_tensors(batches[:-1])
    x_test, y_test = to_tensors(batches[-1:])
    if train_size is not None:
        x_train, y_train = _subsample(x_train, y_train, train_size, seed)
    return x_train, y_train, x_test, y_test


# ----------------------------------------------------------------------------- image folder

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


FLOWERS_URL = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"


def download_flowers(root: str | os.PathLike = "downloads", url: str = FLOWERS_URL, sha256: str | None = None) -> Path:
    """The 5-class flowers photos (daisy, dandelion, roses, sunflowers, tulips; 3,670 JPEGs, the set the
    reproduction study fine-tuned on), downloaded once into `root` and extracted -> root/flower_photos,
    ready for `load_image_folder`. Needs a network (Colab).

    TensorFlow publishes no checksum for this archive: pass `sha256` if you have one; otherwise the
    first download records its sha256 (root/flower_photos.tgz.sha256, see `download_file`) and later
    calls check the archive against it. Extraction refuses links and paths outside `root`.
    """
    root = Path(root)
    archive = download_file(url, root / Path(url).name, sha256, "sha256", hint="then call download_flowers again")
    verify_download(archive, sha256, fix="delete it and call download_flowers again")
    folder = root / "flower_photos"
    if not folder.is_dir():
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(root, filter="data")  # the "data" filter rejects links, devices, absolute paths
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise CorruptArchiveError(f"{archive} is corrupt or truncated ({error}); delete it and download "
                                      "again") from error
    return folder


def load_image_folder(
    root: str | os.PathLike,
    image_size: int = 32,
    channels: int = 3,
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
    mean: float | None = None,
    std: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Read root/class_name/*.png|jpg (e.g. the 5-class flowers set) into memory.

    -> images (B, channels, image_size, image_size) float32 in [0, 1], labels (B,) int64, class_names
    (the sub-folder names, sorted; label i is class_names[i]). Each image is centre-cropped to a square
    and resized (bilinear). mean, std: if given, each image is normalised to (x - mean) / std as it is
    read (e.g. mean=0.5, std=0.5 for Google's checkpoints: [0, 1] -> [-1, 1]).

    Memory: the result is allocated once and filled image by image, so the peak is one copy of the data
    (B * channels * image_size**2 * 4 bytes: 3,670 flower photos are 2.2 GB at 224 px, 6.5 GB at 384 px)
    plus one photo; normalising here, not afterwards with `(images - 0.5) / 0.5`, avoids two more copies.
    To split without copying, use split_indices and torch.utils.data.Subset (split_dataset copies).
    """
    from PIL import Image  # Pillow, which matplotlib already depends on

    root = Path(root)
    check_image_size(image_size)
    check_channels(channels)
    if (mean is None) != (std is None) or (std is not None and not std > 0):
        raise ValueError(f"normalising needs both mean and a positive std, got mean={mean!r}, std={std!r}; "
                         "pass e.g. mean=0.5, std=0.5, or neither")
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist or is not a folder; pass the folder that holds one "
                         "sub-folder per class")
    class_names = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_names:
        raise ValueError(f"{root} has no class sub-folders; arrange the images as {root}/<class_name>/<image>.png")
    files = [(label, file) for label, name in enumerate(class_names)
             for file in sorted(f for f in (root / name).iterdir() if f.suffix.lower() in extensions)]
    if not files:
        raise ValueError(f"no {'/'.join(extensions)} images found under {root}/<class_name>/")
    images = torch.empty(len(files), channels, image_size, image_size)  # (B, C, S, S): the one copy of the data
    for i, (_, file) in enumerate(files):
        with Image.open(file) as im:
            array = np.asarray(im.convert("RGB" if channels == 3 else "L"), dtype=np.float32) / 255.0
        image = torch.from_numpy(array)
        image = rearrange(image, "h w c -> 1 c h w") if channels == 3 else rearrange(image, "h w -> 1 1 h w")
        images[i] = resize_images(_center_crop(image), image_size)[0]  # (C, S, S), written in place
        if mean is not None:
            images[i].sub_(mean).div_(std)  # in place: no second copy
    return images, torch.tensor([label for label, _ in files], dtype=torch.int64), class_names


# ----------------------------------------------------------------------------- label budgets of the digits

DIGITS_VALIDATION_SIZE = 200  # digits carved once from the training split, for choosing learning rates


def digit_splits(image_size: int):
    """The three fixed splits of the digits at `image_size`, the same for every seed:
    -> (x_pool, y_pool) 1,147 training images, (x_val, y_val) 200 validation images, (x_test, y_test) 450."""
    x_train, y_train, x_test, y_test = load_digits(image_size=image_size, seed=0)  # [B, 1, S, S]
    pool, val = split_indices(y_train, test_fraction=DIGITS_VALIDATION_SIZE / len(y_train), seed=0)
    return (x_train[pool], y_train[pool]), (x_train[val], y_train[val]), (x_test, y_test)


def labelled_subset(labels: torch.Tensor, labels_per_class: int, seed: int) -> torch.Tensor:
    """Indices of `labels_per_class` images of every class, drawn by `seed`: (10 * labels_per_class,)."""
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for k in labels.unique():
        of_class = torch.nonzero(labels == k).flatten()
        if len(of_class) < labels_per_class:
            raise ValueError(f"class {int(k)} has {len(of_class)} images, fewer than "
                             f"labels_per_class={labels_per_class}")
        picks.append(of_class[torch.randperm(len(of_class), generator=gen)[:labels_per_class]])
    return torch.cat(picks).sort().values


def load_labelled_digits(labels_per_class: int | None, image_size: int, seed: int = 0, validation: bool = False):
    """The digits at `image_size` with `labels_per_class` training images per class drawn by `seed` (None: the
    whole pool of 1,147) -> x_train, y_train, x_eval, y_eval: the fixed 450 test images, or with
    validation=True the fixed 200 validation images. No seed changes the test or validation images."""
    (x_pool, y_pool), val, test = digit_splits(image_size)
    if labels_per_class is not None:
        keep = labelled_subset(y_pool, labels_per_class, seed)
        x_pool, y_pool = x_pool[keep], y_pool[keep]
    return (x_pool, y_pool, *(val if validation else test))
