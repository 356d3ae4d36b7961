"""Formula-generated images: FractalDB-style classes for pretraining without a single photo.

    random_ifs       a random iterated function system (IFS): n affine maps
    render_ifs       its attractor, drawn by the chaos game, as an image
    FractalDataset   class c = one IFS, instance = a variation of it; every image made on the fly

After FractalDB (Kataoka et al., ACCV 2020) and Nakashima et al. (AAAI 2022), who pretrain ViTs on it.
The bundled checkpoints (`data/fractal-vit*.pt`) were pretrained on FractalDataset by `python -m
vitlib.pretrain`. Images are float32 in [0, 1], (C, S, S) per item; labels are ints.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from einops import repeat
from torch.utils.data import Dataset

from .validate import check_channels, check_flag, check_image_size, check_int, check_number

__all__ = ["random_ifs", "render_ifs", "FractalDataset", "heldout_fractals"]


# a class is one iterated function system (IFS), a set of n affine maps w_j(x) = A_j x + b_j chosen
# at random, each picked with probability p_j proportional to |det A_j|. Its attractor, drawn by the
# "chaos game" (start anywhere, apply a randomly picked map, repeat, plot the points), is the image.
# Instances of a class are variations of its IFS: one coefficient scaled by a weight near 1 and a fresh
# random orbit (and with flip=True, FractalDB's random left-right flip).


def random_ifs(rng: np.random.Generator, min_maps: int = 2, max_maps: int = 4) -> np.ndarray:
    """A random contractive IFS: an array (n, 6) of affine maps (a, b, c, d, e, f),

    meaning w(x, y) = (a x + b y + e, c x + d y + f), with n in [min_maps, max_maps] and every
    coefficient uniform in [-1, 1] (FractalDB's sampling). Maps are kept contractive (largest singular
    value below 1) so the orbit stays bounded.
    """
    if not 1 <= min_maps <= max_maps:
        raise ValueError(f"need 1 <= min_maps <= max_maps, got {min_maps} and {max_maps}")
    n = int(rng.integers(min_maps, max_maps + 1))
    maps = rng.uniform(-1.0, 1.0, size=(n, 6))
    for j in range(n):
        a = maps[j, :4].reshape(2, 2)
        sigma = np.linalg.norm(a, ord=2)  # largest singular value
        if sigma >= 0.95:
            maps[j, :4] *= 0.95 / sigma
    return maps


def render_ifs(
    maps: np.ndarray,
    image_size: int = 32,
    num_points: int = 4096,
    rng: np.random.Generator | None = None,
    chains: int = 128,
    burn_in: int = 20,
) -> np.ndarray:
    """Draw the attractor of an IFS by the chaos game: -> (image_size, image_size) float32 in [0, 1].

    `chains` orbits run side by side (vectorised), each for burn_in + num_points / chains steps; the
    first `burn_in` points of each orbit are dropped (they are not yet on the attractor). The points are
    scaled to fill the image and counted per pixel; the image is the log-density, scaled to [0, 1].
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    maps = np.asarray(maps, dtype=np.float64)
    A = maps[:, :4].reshape(-1, 2, 2)  # (n, 2, 2)
    b = maps[:, 4:]  # (n, 2)
    det = np.abs(np.linalg.det(A)) + 1e-3
    p = det / det.sum()
    steps = burn_in + math.ceil(num_points / chains)
    choice = rng.choice(len(maps), size=(steps, chains), p=p)  # which map each orbit applies at each step
    xy = rng.uniform(-1.0, 1.0, size=(chains, 2))
    points = np.empty((steps, chains, 2))
    for t in range(steps):
        j = choice[t]
        xy = np.einsum("cij,cj->ci", A[j], xy) + b[j]  # apply w_j to each orbit's point
        points[t] = xy
    points = points[burn_in:].reshape(-1, 2)
    points = points[np.isfinite(points).all(axis=1)]
    image = np.zeros((image_size, image_size), dtype=np.float32)
    if len(points) == 0:
        return image
    lo, hi = points.min(axis=0), points.max(axis=0)
    scale = (image_size - 1) / np.maximum(hi - lo, 1e-9).max()  # keep the aspect ratio
    offset = (image_size - 1 - (hi - lo) * scale) / 2  # centre the shape
    cols, rows = np.round((points - lo) * scale + offset).astype(np.int64).T
    np.add.at(image, (image_size - 1 - rows, cols), 1.0)  # y points up
    image = np.log1p(image)
    return image / image.max()


def _fill_rate(image: np.ndarray) -> float:
    """Fraction of pixels the attractor touches (FractalDB's filter against degenerate, point-like IFS)."""
    return float((image > 0).mean())


class FractalDataset(Dataset):
    """Formula-generated images for pretraining without natural images (FractalDB-style), made on the fly.

    dataset[i] -> (image (channels, image_size, image_size) float32 in [0, 1], label int).
    Item i is class i % num_classes, instance i // num_classes, so any prefix of the dataset is
    balanced. Every image is a pure function of (seed, class, instance): the same seed gives the same
    images, in any order, in any process (DataLoader workers too), without storing anything.

    Class c is one IFS drawn by `random_ifs` from a generator seeded by (seed, c), redrawn until its
    attractor fills at least `min_fill` of a 32 x 32 render (FractalDB's filling-rate filter). Each
    instance scales one coefficient of one map by a weight in [0.8, 1.2] and is rendered from its own
    random orbit of `num_points` points (default 4 per pixel). flip=True (FractalDB's recipe) mirrors half
    the instances left-right: position embeddings trained on them become mirror-symmetric.
    """

    def __init__(
        self,
        num_classes: int = 10,
        images_per_class: int = 100,
        image_size: int = 32,
        channels: int = 1,
        seed: int = 0,
        num_points: int | None = None,
        min_fill: float = 0.08,
        max_maps: int = 4,
        flip: bool = False,
    ):
        check_int(num_classes, "num_classes")
        check_int(images_per_class, "images_per_class")
        check_int(seed, "seed", minimum=0)
        check_int(num_points, "num_points", allow_none=True)
        check_int(max_maps, "max_maps", minimum=2)
        check_number(min_fill, "min_fill")
        check_image_size(image_size, smallest=4)
        check_channels(channels)
        if not 0.0 <= min_fill < 0.5:
            raise ValueError(f"min_fill must be in [0, 0.5), got {min_fill}; FractalDB-like values are 0.05-0.2")
        self.num_classes, self.images_per_class = num_classes, images_per_class
        self.image_size, self.channels, self.seed = image_size, channels, seed
        self.num_points = num_points if num_points is not None else 4 * image_size**2  # about 4 points per pixel
        self.min_fill, self.max_maps = min_fill, max_maps
        check_flag(flip, "flip")
        self.flip = flip
        self._systems: dict[int, np.ndarray] = {}  # class -> IFS, made when first needed

    def __len__(self) -> int:
        return self.num_classes * self.images_per_class

    def system(self, label: int) -> np.ndarray:
        """The IFS (n, 6) that defines class `label`."""
        if label not in self._systems:
            rng = np.random.default_rng([self.seed, label, 0])
            for _ in range(100):
                maps = random_ifs(rng, max_maps=self.max_maps)
                if _fill_rate(render_ifs(maps, 32, num_points=2048, rng=rng)) >= self.min_fill:
                    break
            self._systems[label] = maps
        return self._systems[label]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} images")
        index %= len(self)
        label, instance = index % self.num_classes, index // self.num_classes
        rng = np.random.default_rng([self.seed, label, 1 + instance])
        maps = self.system(label).copy()
        j, k = rng.integers(len(maps)), rng.integers(4)
        maps[j, k] *= rng.uniform(0.8, 1.2)  # intra-class variation
        image = render_ifs(maps, self.image_size, self.num_points, rng=rng)
        if rng.random() < 0.5 and self.flip:  # drawn either way, so flip=False keeps the same orbits
            image = image[:, ::-1]
        image = torch.from_numpy(image.copy())
        return repeat(image, "h w -> c h w", c=self.channels), label

    def tensors(self, count: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `count` items (all by default) as tensors: images (B, C, S, S), labels (B,)."""
        count = len(self) if count is None else min(count, len(self))
        items = [self[i] for i in range(count)]
        return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items], dtype=torch.int64)


def heldout_fractals(recipe: dict, count: int = 500, image_size: int | None = None):
    """`count` held-out images of a pretraining recipe's formula classes (instances it never trained on),
    rendered at the recipe's size and upsampled bilinearly to `image_size` -> x (count, 1, S, S), y (count,)."""
    c, n = recipe["classes"], recipe["images_per_class"]
    dataset = FractalDataset(num_classes=c, images_per_class=n + recipe["heldout_per_class"],
                             image_size=recipe["image_size"], seed=recipe["seed"], flip=recipe["flip"])
    items = [dataset[i] for i in range(c * n, c * n + count)]  # item i: class i % c, instance i // c
    x, y = torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])
    if image_size is not None and image_size != recipe["image_size"]:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return x, y
