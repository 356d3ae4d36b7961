"""Headless tests of the notebook 00-02 widgets, their plots, and probes.pos_embed_similarity."""

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vitlib import ViT, ViTConfig, plots, widgets
from vitlib.embeddings import sincos_2d
from vitlib.probes import pos_embed_similarity

matplotlib.use("Agg")


def pixels(fig: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


@pytest.fixture(scope="module")
def photo():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 48, 48, generator=g)  # a small stand-in for the flower: 48 = 2^4 * 3


# --- probes.pos_embed_similarity ---------------------------------------------------------------


def test_pos_embed_similarity_layout_and_range():
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(1, 1 + 12, 5, generator=g)[:, :10]  # class token + a 3 x 3 grid
    sim = pos_embed_similarity(pos)
    assert sim.shape == (3, 3, 3, 3)
    e = F.normalize(pos[0, 1:], dim=-1)
    for i, j, k, l in [(0, 0, 0, 0), (0, 1, 2, 0), (2, 2, 1, 0), (1, 0, 0, 1)]:
        assert torch.isclose(sim[i, j, k, l], e[3 * i + j] @ e[3 * k + l], atol=1e-6)
    assert torch.allclose(sim[range(3), :, range(3)][:, range(3), range(3)], torch.ones(3, 3), atol=1e-6)
    assert sim.min() >= -1 - 1e-6 and sim.max() <= 1 + 1e-6
    assert torch.allclose(sim, sim.permute(2, 3, 0, 1))  # symmetric


def test_pos_embed_similarity_shapes_and_models():
    table = sincos_2d(4, 16)  # (16, 16), no prefix
    assert torch.allclose(pos_embed_similarity(table, num_prefix_tokens=0),
                          pos_embed_similarity(torch.cat([torch.zeros(1, 16), table])[None]))
    cfg = ViTConfig(image_size=16, patch_size=4, num_classes=3, dim=16, depth=1, heads=2, mlp_dim=32)
    model = ViT(cfg)
    assert torch.allclose(pos_embed_similarity(model), pos_embed_similarity(model.pos_embed.pos_embed))
    with pytest.raises(ValueError, match="no position embeddings"):
        pos_embed_similarity(ViT(cfg.replace(pos_embed="none")))
    with pytest.raises(ValueError, match="square grid"):
        pos_embed_similarity(torch.randn(1, 11, 4))
    with pytest.raises(ValueError, match=r"\(1, T, D\) or \(T, D\)"):
        pos_embed_similarity(torch.randn(2, 10, 4))


def test_sincos_similarity_falls_off_with_distance():
    sim = pos_embed_similarity(sincos_2d(6, 64), num_prefix_tokens=0)
    row = sim[2, 2, 2]  # patch (2, 2) against the patches of its row
    assert row[2] == pytest.approx(1.0) and row[2] > row[3] > row[4] > row[5]


# --- plots --------------------------------------------------------------------------------------


def test_as_hwc():
    assert plots.as_hwc(torch.zeros(3, 5, 7)).shape == (5, 7, 3)
    assert plots.as_hwc(np.zeros((5, 7, 3))).shape == (5, 7, 3)
    assert plots.as_hwc(np.zeros((5, 7))).shape == (5, 7, 1)
    assert plots.as_hwc(torch.zeros(1, 8, 8)).shape == (8, 8, 1)
    with pytest.raises(ValueError, match="expected one image"):
        plots.as_hwc(np.zeros((2, 3, 4, 5)))


def test_plot_patching(photo):
    fig = plots.plot_patching(photo, 16)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("N = HW/P² = 9 patches" in t for t in titles)
    assert any("9 x 768" in t for t in titles)
    matrix = [ax for ax in fig.axes if "x_p" in ax.get_title()][0].images[0].get_array()
    assert matrix.shape == (9, 768)  # the (N, P*P*C) patch matrix
    from vitlib.patches import patchify
    assert np.allclose(matrix, patchify(photo[None], 16)[0].numpy(), atol=1e-6)  # same order as vitlib
    with pytest.raises(ValueError, match="not divisible"):
        plots.plot_patching(photo, 5)


def test_plot_pos_similarity():
    fig = plots.plot_pos_similarity(pos_embed_similarity(sincos_2d(4, 16), num_prefix_tokens=0))
    ax = fig.axes[0]
    im = ax.images[0]
    assert im.get_clim() == (-1, 1)
    assert im.get_array().shape == (4 * 5 - 1, 4 * 5 - 1)  # 4 x 4 tiles with one-pixel gaps
    assert ax.get_xlabel() == "Input patch column" and ax.get_ylabel() == "Input patch row"
    assert len(fig.axes) == 2  # one colour bar
    with pytest.raises(ValueError, match=r"\(G, G, G, G\)"):
        plots.plot_pos_similarity(np.zeros((4, 4)))


def test_plot_prediction_and_images():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(10, generator=g), 0)
    fig = plots.plot_prediction(torch.rand(1, 16, 16, generator=g), torch.rand(4, 4, generator=g), probs, label=3)
    assert f"prediction: {int(probs.argmax())}" in fig.axes[2].get_title()
    assert "true class: 3" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match=r"\(G, G\)"):
        plots.plot_prediction(torch.rand(1, 16, 16), torch.rand(16), probs)
    fig = plots.plot_images([torch.rand(3, 8, 8), np.zeros((8, 8))], ["a", "b"], suptitle="s")
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]


# --- widgets ------------------------------------------------------------------------------------


def test_patch_explorer_slider_redraws(photo):
    w = widgets.patch_explorer(photo, patch_size=16, max_size=24)
    assert w.ui.children and w.figure is not None
    assert "N = HW/P² = 48·48/16² = 9 patches" in w.message.value
    before, png_before = pixels(w.figure), w.canvas.value
    w.slider.value = 8
    assert "36 patches" in w.message.value
    assert w.canvas.value != png_before
    after = pixels(w.figure)
    assert before.shape != after.shape or not np.array_equal(before, after)
    assert any("6 x 6 grid" in ax.get_title() for ax in w.figure.axes)


def test_patch_explorer_invalid_size_shows_message(photo):
    w = widgets.patch_explorer(photo, patch_size=16, max_size=24)
    w.slider.value = 5
    assert "not divisible by patch size 5" in w.message.value
    assert "2, 3, 4, 6, 8, 12, 16, 24" in w.message.value  # the sizes that tile a 48 px image
    assert w.canvas.layout.display == "none"
    w.slider.value = 12
    assert "not divisible" not in w.message.value and w.canvas.layout.display is None


def test_pos_embed_explorer():
    w = widgets.pos_embed_explorer(dim=32, grid_size=4, max_grid=6)
    assert "sin-cos" in w.figure.axes[0].get_title()
    first = w.figure.axes[0].images[0].get_array().copy()
    w.grid.value = 5
    assert w.figure.axes[0].images[0].get_array().shape == (5 * 6 - 1, 5 * 6 - 1)
    w.kind.value = "learned"
    learned = w.figure.axes[0].images[0].get_array()
    assert "learned" in w.figure.axes[0].get_title()
    assert not np.ma.allclose(learned, plots.plot_pos_similarity(w.similarity["sincos2d", 5]).axes[0].images[0].get_array())
    assert first.shape == (19, 19)
    figure = w.figure
    w.kind.value = "none"
    assert "nothing to compare" in w.message.value and w.canvas.layout.display == "none"
    assert w.figure is figure  # nothing was drawn
    w.kind.value = "sincos2d"
    assert w.message.value == "" and w.canvas.layout.display is None


def test_pos_embed_explorer_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    widgets.pos_embed_explorer(dim=8, grid_size=2, max_grid=3)
    assert torch.equal(torch.rand(3), expected)


def test_prediction_explorer():
    g = torch.Generator().manual_seed(0)
    n = 12
    labels = torch.arange(n) % 10
    probs = F.one_hot(labels, 10).float() * 0.9 + 0.01
    probs[[2, 7]] = F.one_hot(torch.tensor([5, 5]), 10).float() * 0.9 + 0.01  # two mistakes (labels 2, 7)
    w = widgets.prediction_explorer(torch.rand(n, 1, 8, 8, generator=g), labels, probs, torch.rand(n, 4, 4, generator=g))
    assert w.mistakes == [2, 7]
    before = pixels(w.figure)
    w.index.value = 3
    assert "test image 3" in w.message.value
    assert not np.array_equal(before, pixels(w.figure))
    w.only_mistakes.value = True
    assert w.index.max == 1 and "test image 2 (mistake 1 of 2)" in w.message.value
    w.index.value = 1
    assert "test image 7 (mistake 2 of 2)" in w.message.value
    assert "prediction: 5" in w.figure.axes[2].get_title()


def test_prediction_explorer_without_mistakes_and_bad_input():
    labels = torch.tensor([0, 1])
    w = widgets.prediction_explorer(torch.rand(2, 1, 8, 8), labels, F.one_hot(labels, 3).float(), torch.rand(2, 2, 2))
    w.only_mistakes.value = True
    assert "no mistakes" in w.message.value
    with pytest.raises(ValueError, match="need as many"):
        widgets.prediction_explorer(torch.rand(2, 1, 8, 8), labels, torch.rand(3, 3), torch.rand(2, 2, 2))


def test_plot_maps():
    fig = plots.plot_maps(torch.linspace(-1, 1, 2 * 3 * 3).reshape(2, 3, 3), ["a", "b"], suptitle="s")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]
    assert all(ax.images[0].get_clim() == (-1, 1) for ax in fig.axes[:2])
    assert len(fig.axes) == 3  # two maps, one shared colour bar
    with pytest.raises(ValueError, match=r"\(K, G, G\)"):
        plots.plot_maps(np.zeros((3, 3)))
