"""Tests of notebook 07 (fine-tuning): the results drawing and widget, the resize_pos_embed checker."""

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from helpers import changed, shows_error  # tests/course/helpers.py
from matplotlib.figure import Figure

from vitlib import ViT, ViTConfig
from vitlib.baselines import SmallCNN
from vitlib.course.exercise import ExerciseError
from vitlib.course.nb07_finetuning import (
    _resize_mistakes,
    check_resize_pos_embed,
    finetune_results_widget,
    finetune_run,
    finetune_runs,
    model_for_run,
    plot_finetune_results,
    sweep,
)
from vitlib.data import load_labelled_digits
from vitlib.embeddings import resize_pos_embed

BUDGETS = (2, 5, 10, 20, None)


def make_results(sizes=(32, 48), seeds=3):
    """{(init, size, budget): [accuracy per seed]} shaped like vitlib.finetune.sweep's; pretrained wins."""
    rng = np.random.default_rng(0)
    results = {}
    for size in sizes:
        for b in BUDGETS:
            base = {2: 0.5, 5: 0.7, 10: 0.8, 20: 0.88, None: 0.95}[b] - (0.03 if size == 48 else 0.0)
            for init, shift in (("pretrained", 0.04), ("scratch", -0.15)):
                results[init, size, b] = [float(np.clip(base + shift + rng.normal(0, 0.03), 0, 1))
                                          for _ in range(seeds)]
    return results


def numbers(message: str) -> list:
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d", message)]


def test_plot_draws_both_inits_against_the_budget_and_the_chosen_cell():
    results = make_results()
    fig = plot_finetune_results(results, 32, 10)
    assert isinstance(fig, Figure) and not fig.get_constrained_layout()
    ax, ax_bar = fig.axes
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "5", "10", "20", "all"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    pretrained, scratch = lines["pretrained"], lines["from scratch"]
    np.testing.assert_allclose(pretrained.get_xdata(), [2, 5, 10, 20, 40])  # "all" at twice the largest budget
    np.testing.assert_allclose(pretrained.get_ydata(), [100 * np.mean(results["pretrained", 32, b]) for b in BUDGETS])
    np.testing.assert_allclose(scratch.get_ydata(), [100 * np.mean(results["scratch", 32, b]) for b in BUDGETS])
    marker = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(marker) == 1 and list(marker[0].get_xdata()) == [10, 10]
    assert len(ax.containers) == 2 and all(c.has_yerr for c in ax.containers)  # mean ± std, 3 seeds
    bars = [p for p in ax_bar.patches]
    np.testing.assert_allclose([b.get_height() for b in bars],
                               [100 * np.mean(results[i, 32, 10]) for i in ("pretrained", "scratch")])
    assert [t.get_text() for t in ax_bar.get_xticklabels()] == ["pretrained", "from scratch"]
    assert [t.get_text() for t in ax_bar.texts] == [f"{100 * np.mean(results[i, 32, 10]):.1f}%"
                                                    for i in ("pretrained", "scratch")]
    assert "10 labels per class" in ax_bar.get_title()
    assert ax_bar.get_ylim()[0] == 0  # bars from 0
    assert all(t.get_position()[1] == b.get_height() / 2 for t, b in zip(ax_bar.texts, bars))  # clear of the error bars
    low = ax.get_ylim()[0]
    assert low == 0 or f"axis from {low:.0f}" in ax.get_ylabel()  # a line plot not from 0 says so


def test_plot_changes_with_the_chosen_budget_and_size():
    results = make_results()
    first = plot_finetune_results(results, 32, 10)
    assert changed(first, plot_finetune_results(results, 32, 20))
    assert changed(first, plot_finetune_results(results, 32, None))
    assert changed(first, plot_finetune_results(results, 48, 10))
    assert "all labels" in plot_finetune_results(results, 32, None).axes[1].get_title()


def test_plot_one_seed_has_no_error_bars():
    fig = plot_finetune_results(make_results(seeds=1), 32, 5, title="one seed")
    ax, ax_bar = fig.axes
    assert len(ax.containers) == 0  # no errorbar container on the left
    assert all(not getattr(c, "has_yerr", False) for c in ax_bar.containers)
    assert fig._suptitle.get_text() == "one seed"


def test_plot_missing_cell_raises_a_value_error_that_says_what_to_do():
    results = make_results()
    del results["scratch", 32, 10]
    with pytest.raises(ValueError, match="no results for from scratch with 10 labels per class at 32 px.*sweep"):
        plot_finetune_results(results, 32, 10)
    with pytest.raises(ValueError, match="no results at 40 px; the results have image sizes 32 px, 48 px"):
        plot_finetune_results(results, 40, 10)
    with pytest.raises(ValueError, match="results is empty"):
        plot_finetune_results({}, 32, 10)


def test_widget_controls_order_and_defaults():
    w = finetune_results_widget(make_results())
    assert list(w.controls) == ["labels_per_class", "image_size"]  # the budget slider first
    budget, size = w.controls["labels_per_class"], w.controls["image_size"]
    assert budget.description == "labels/class" and not budget.continuous_update
    assert list(budget.options) == [("2", 2), ("5", 5), ("10", 10), ("20", 20), ("all", "all")]
    assert [label for label, _ in size.options] == ["32 px", "48 px"]
    assert w.values == {"labels_per_class": 10, "image_size": 32}
    assert w.ui.children[0].children[0] is budget  # first on screen too
    # without a budget of 10 the smallest is the default
    no_ten = {k: v for k, v in make_results().items() if k[2] != 10}
    assert finetune_results_widget(no_ten).values["labels_per_class"] == 2


def test_widget_message_gives_the_means_and_the_difference():
    results = make_results()
    w = finetune_results_widget(results)
    p, s = (100 * np.mean(results[i, 32, 10]) for i in ("pretrained", "scratch"))
    ps, ss = (100 * np.std(results[i, 32, 10]) for i in ("pretrained", "scratch"))
    expected = (f"10 labels per class at 32 px: pretrained {p:.1f} ± {ps:.1f}%, from scratch {s:.1f} ± {ss:.1f}% "
                f"(3 seeds): {p - s:+.1f} points")
    assert w.message.value == expected
    assert numbers(w.message.value) == pytest.approx([p, ps, s, ss, p - s], abs=0.051)  # the means over seeds


def test_moving_the_budget_slider_changes_the_image_and_the_message():
    results = make_results()
    w = finetune_results_widget(results)
    png, message = w.canvas.value, w.message.value
    w.controls["labels_per_class"].value = 20  # what the browser test does to the first slider
    assert w.canvas.value != png and w.message.value != message
    assert w.message.value.startswith("20 labels per class at 32 px")
    w.controls["labels_per_class"].value = "all"
    assert w.message.value.startswith("all labels at 32 px: pretrained")
    png = w.canvas.value
    w.controls["image_size"].value = 48
    assert w.canvas.value != png and "at 48 px" in w.message.value


def test_widget_one_seed_has_no_plus_minus():
    results = make_results(seeds=1)
    w = finetune_results_widget(results)
    p, s = (100 * results[i, 32, 10][0] for i in ("pretrained", "scratch"))
    assert w.message.value == (f"10 labels per class at 32 px: pretrained {p:.1f}%, from scratch {s:.1f}% "
                               f"(1 seed): {p - s:+.1f} points")
    assert "±" not in w.message.value


def test_widget_missing_cell_shows_a_message_not_an_exception():
    results = make_results()
    del results["scratch", 48, 20]
    w = finetune_results_widget(results)
    w.set(labels_per_class=20, image_size=48)  # no exception
    assert shows_error(w, "no results for from scratch with 20 labels per class at 48 px")
    w.controls["labels_per_class"].value = 10
    assert w.canvas.layout.display is None and "points" in w.message.value


def _split(pos):
    g = math.isqrt(pos.shape[1] - 1)
    return pos[:, :1], pos[:, 1:], g, pos.shape[2]


def _resize(pos, new, read="1 (h w) d -> 1 d h w", write="1 d h w -> 1 (h w) d", **interpolate):
    """A student's answer: the right steps, any interpolation and any layout on the way in and out."""
    cls, patches, g, _ = _split(pos)
    grid = rearrange(patches, read, h=g)
    grid = F.interpolate(grid, size=(new, new), **({"mode": "bilinear", "align_corners": True} | interpolate))
    return torch.cat([cls, rearrange(grid, write, h=new)], dim=1)


def resize_ok(pos_embed, new_grid):
    cls, patches, g, d = _split(pos_embed)
    grid = patches.reshape(1, g, g, d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bilinear", align_corners=True)
    return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, d)], dim=1)


def test_the_reference_and_a_handwritten_answer_pass(capsys):
    assert check_resize_pos_embed(resize_pos_embed) is True
    assert check_resize_pos_embed(resize_ok) is True
    assert check_resize_pos_embed(_resize) is True
    assert "is correct" in capsys.readouterr().out


def test_the_mistakes_all_differ_on_the_checker_input():
    """Each named mistake must be told apart from the right answer and from the others."""
    pos = torch.randn(1, 10, 4, generator=torch.Generator().manual_seed(0))
    right = resize_pos_embed(pos, 5)
    wrongs = _resize_mistakes(pos, 5)
    assert len(wrongs) >= 10
    for i, (a, _) in enumerate(wrongs):
        assert a.shape == right.shape and not torch.allclose(a, right, atol=1e-3)
        for b, message in wrongs[i + 1:]:
            if "1D signal" not in message:  # the two 1D variants share a message
                assert not torch.allclose(a, b, atol=1e-3)


def _cls(pos):
    return pos[:, :1]


@pytest.mark.parametrize("answer, message", [
    (lambda p, n: _resize(p, n, align_corners=False), "align_corners=False"),
    (lambda p, n: _resize(p, n, mode="nearest", align_corners=None), "nearest-neighbour"),
    (lambda p, n: _resize(p, n, mode="bicubic"), "that is bicubic interpolation;"),
    (lambda p, n: _resize(p, n, mode="bicubic", align_corners=False), "bicubic interpolation with align_corners=False"),
    (lambda p, n: _resize(p, n, write="1 d h w -> 1 (w h) d"), "rows and columns of the grid are swapped"),
    (lambda p, n: _resize(p, n, read="1 (w h) d -> 1 d h w"), "rows and columns of the grid are swapped"),
    (lambda p, n: torch.cat([_cls(p), F.interpolate(p[:, 1:].reshape(1, p.shape[2], 3, 3), size=(n, n),
                                                    mode="bilinear", align_corners=True).reshape(1, n * n, -1)], 1),
     "reshaped \\(1, G\\*G, D\\) straight to \\(1, D, G, G\\) and back"),
    (lambda p, n: torch.cat([_cls(p), F.interpolate(rearrange(p[:, 1:], "1 (h w) d -> 1 d h w", h=3), size=(n, n),
                                                    mode="bilinear", align_corners=True).reshape(1, n * n, -1)], 1),
     "flattening back reshaped"),
    (lambda p, n: torch.cat([resize_pos_embed(p, n)[:, 1:], _cls(p)], dim=1), "row is at the end"),
    (lambda p, n: _resize(torch.cat([_cls(p), p[:, :-1]], dim=1), n), "built from the wrong rows"),  # pos[:, :G*G]
    (lambda p, n: F.interpolate(p.transpose(1, 2), size=1 + n * n, mode="linear").transpose(1, 2),
     "\\[class\\] token included, was interpolated as one 1D signal"),
    (lambda p, n: torch.cat([p[:, 1:].mean(1, keepdim=True), resize_pos_embed(p, n)[:, 1:]], dim=1),
     "the patch rows are right, but the \\[class\\] token's row changed"),
])
def test_each_mistake_is_named(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_resize_pos_embed(answer)


@pytest.mark.parametrize("answer, message", [
    (lambda p, n: resize_pos_embed(p, n)[:, 1:], "the \\[class\\] token's row is missing"),
    (lambda p, n: p, "still the old 3 x 3 grid"),
    (lambda p, n: resize_pos_embed(p, n)[0], "keep the leading batch axis"),
    (lambda p, n: rearrange(resize_pos_embed(p, n)[:, 1:], "1 (h w) d -> 1 d h w", h=n), "flatten it back"),
    (lambda p, n: torch.zeros(2, 3), "has shape \\(2, 3\\); expected \\(1, 1 \\+ new_grid\\*\\*2, D\\) = \\(1, 26, "
                                     "4\\)"),
])
def test_wrong_shapes_get_a_hint(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_resize_pos_embed(answer)


def test_other_slips():
    with pytest.raises(ExerciseError, match="forget `return`"):
        check_resize_pos_embed(lambda p, n: None)
    with pytest.raises(ExerciseError, match="expected a torch.Tensor"):
        check_resize_pos_embed(lambda p, n: resize_pos_embed(p, n).tolist())
    with pytest.raises(ExerciseError, match="raised RuntimeError"):  # the student's own error, with the shapes
        check_resize_pos_embed(lambda p, n: p.reshape(1, 7, 7, 4))
    with pytest.raises(ExerciseError, match="don't hard-code"):
        check_resize_pos_embed(lambda p, n: _resize(p, 5) if p.shape[1] == 10 else _resize(p, 5)[:, :1 + n * n])
    with pytest.raises(ExerciseError, match="patch rows are wrong"):
        check_resize_pos_embed(lambda p, n: torch.cat([_cls(p), 2 * resize_pos_embed(p, n)[:, 1:]], dim=1))


def test_the_checker_leaves_the_input_alone():
    def in_place(pos_embed, new_grid):
        out = resize_pos_embed(pos_embed, new_grid)
        pos_embed.zero_()  # a student's function may scribble on its input; later checks must not see that
        return out

    assert check_resize_pos_embed(in_place) is True


# ------------------------------------------------------------------ the experiment runners


def backbone():
    torch.manual_seed(0)
    return ViT(ViTConfig(image_size=16, patch_size=4, in_channels=1, num_classes=7, dim=16, depth=1, heads=2,
                         mlp_dim=32, head="mlp"))


def test_model_for_run_pretrained_keeps_the_backbone_and_zeroes_a_new_head():
    b = backbone()
    m = model_for_run(b, "pretrained", image_size=24)
    assert m.cfg.image_size == 24 and m.cfg.num_classes == 10 and m.cfg.head == "linear"
    assert torch.count_nonzero(m.head.weight) == 0 and torch.count_nonzero(m.head.bias) == 0
    assert m.pos_embed.pos_embed.shape == (1, 1 + 6 * 6, 16)
    assert torch.equal(m.encoder.blocks[0].attn.qkv.weight, b.encoder.blocks[0].attn.qkv.weight)
    assert b.cfg.image_size == 16 and b.cfg.num_classes == 7  # the backbone itself is left as it was


def test_model_for_run_scratch_and_cnn():
    b = backbone()
    s = model_for_run(b, "scratch", image_size=16, seed=1)
    assert s.cfg.replace(num_classes=7, head="mlp") == b.cfg  # the same architecture...
    assert not torch.equal(s.patch_embed.proj.weight, b.patch_embed.proj.weight)  # ...with fresh weights
    assert torch.equal(model_for_run(b, "scratch", 16, seed=1).patch_embed.proj.weight, s.patch_embed.proj.weight)
    assert isinstance(model_for_run(b, "cnn", 16), SmallCNN)
    with pytest.raises(ValueError, match="unknown init"):
        model_for_run(b, "imagenet", 16)


def test_load_labelled_digits_keeps_the_test_split_for_every_seed():
    x, y, xt, yt = load_labelled_digits(3, image_size=16)
    assert x.shape == (30, 1, 16, 16) and torch.bincount(y).tolist() == [3] * 10
    x_all, _, xt_all, yt_all = load_labelled_digits(None, image_size=16)
    assert len(x_all) == 1147 and torch.equal(xt, xt_all) and torch.equal(yt, yt_all)  # the pool: 1,347 - 200
    x1, _, xt1, _ = load_labelled_digits(3, image_size=16, seed=1)
    assert torch.equal(xt1, xt) and not torch.equal(x1, x)  # another seed: other labelled digits, the same test
    _, _, x_val, y_val = load_labelled_digits(3, image_size=16, validation=True)
    assert len(y_val) == 200 and len(yt) == 450
    flat = lambda t: {tuple(v.tolist()) for v in t.flatten(1)}  # noqa: E731
    assert not flat(x_val) & flat(xt) and not flat(x_val) & flat(x_all)  # validation: never trained or tested on


def test_shuffled_backbone_keeps_the_numbers_not_the_structure():
    b = backbone()
    m = model_for_run(b, "shuffled", image_size=16, seed=3)
    w, w0 = m.patch_embed.proj.weight, b.patch_embed.proj.weight
    assert not torch.equal(w, w0) and torch.equal(w.flatten().sort().values, w0.flatten().sort().values)
    assert torch.count_nonzero(m.head.weight) == 0  # a fresh zero head, as for "pretrained"


def test_baselines_need_no_training():
    from vitlib.probes import few_shot_linear, frozen_features, nearest_neighbour

    x = torch.randn(40, 1, 16, 16)
    y = torch.arange(40) % 4
    x[torch.arange(40), 0, 0, y] = 10.0  # pixel (0, k) lights up for class k
    assert nearest_neighbour(x[:20], y[:20], x[20:], y[20:]) == 1.0
    feats = frozen_features(backbone(), x)
    assert feats.shape == (40, backbone().cfg.dim)
    assert few_shot_linear(x[:20].flatten(1), y[:20], x[20:].flatten(1), y[20:]) == 1.0
    assert few_shot_linear(torch.zeros(20, 3), y[:20], torch.zeros(20, 3), y[20:]) <= 0.5  # no information


def test_resized_tables_cover_the_ablation():
    from vitlib.course.nb07_finetuning import resized_tables

    pos = torch.randn(1, 1 + 16, 8)
    tables = resized_tables(pos, 6, seed=0)
    assert set(tables) == {"2D bilinear", "2D nearest", "1D linear", "zero-padded", "rows shuffled", "no E_pos"}
    assert all(t.shape == (1, 1 + 36, 8) for t in tables.values())
    assert torch.equal(tables["2D bilinear"], resize_pos_embed(pos, 6))
    assert torch.equal(tables["zero-padded"][:, 1:17], pos[:, 1:]) and not tables["zero-padded"][:, 17:].any()
    assert torch.equal(tables["1D linear"][:, 1], pos[:, 1]) and torch.equal(tables["1D linear"][:, -1], pos[:, -1])
    rows = lambda name: tables[name][:, 1:].sort(dim=1).values  # noqa: E731
    assert torch.equal(rows("rows shuffled"), rows("2D bilinear"))


def test_finetune_run_and_sweep(one_thread):
    b = backbone()
    m, h = finetune_run(b, "pretrained", 2, image_size=16, steps=4, precision="fp32")
    assert h.epochs == 4 and 0.0 <= h.test_acc[-1] <= 1.0  # 20 images, batch 32: one step per epoch
    assert m.cfg.num_classes == 10 and not torch.equal(m.patch_embed.proj.weight, b.patch_embed.proj.weight)
    _, again = finetune_run(b, "pretrained", 2, image_size=16, steps=4, precision="fp32")
    assert again.test_acc[-1] == h.test_acc[-1] and again.train_loss == h.train_loss  # deterministic
    assert all(np.isnan(h.test_acc[:-1]))  # with a label budget the test set is evaluated once, at the end
    _, full = finetune_run(b, "scratch", None, image_size=16, steps=44, precision="fp32")
    assert full.epochs == 2 and not np.isnan(full.test_acc).any()  # 1,147 images: 36 steps per epoch; a learning curve
    known = {("scratch", 16, 2): [0.5]}
    results = sweep(b, budgets=[2], image_sizes=[16], seeds=(0, 1), steps=lambda budget: 2, precision="fp32",
                    results=known)
    assert results is known and set(results) == {("pretrained", 16, 2), ("scratch", 16, 2)}
    assert results["scratch", 16, 2][0] == 0.5 and len(results["scratch", 16, 2]) == 2  # known seed kept, seed 1 added
    assert len(results["pretrained", 16, 2]) == 2
    # two worker processes compute exactly what one process computes, run by run
    _, seed1 = finetune_run(b, "pretrained", 2, image_size=16, steps=2, seed=1, precision="fp32")
    assert results["pretrained", 16, 2][1] == seed1.test_acc[-1]
    side_by_side = finetune_runs(b, [dict(init="pretrained", labels_per_class=2, image_size=16, seed=0, steps=4),
                                     dict(init="scratch", labels_per_class=2, image_size=16, seed=0, steps=4)],
                                 processes=2, precision="fp32")
    assert side_by_side[0][1].train_loss == h.train_loss and side_by_side[0][1].test_acc[-1] == h.test_acc[-1]


def test_plot_accuracy_per_epoch_ticks_whole_epochs():
    from vitlib.course.nb07_finetuning import plot_accuracy_per_epoch
    from vitlib.train import History

    def run(acc):
        return History(train_loss=[1.0] * len(acc), train_acc=acc, test_loss=[1.0] * len(acc), test_acc=acc,
                       lr=[1e-3] * len(acc), seconds=[1.0] * len(acc))

    ax = plot_accuracy_per_epoch({"pretrained": run([0.7, 0.86, 0.9]), "scratch": run([0.3, 0.6, 0.74])}).axes[0]
    assert list(ax.get_xticks()) == [1, 2, 3]  # no 1.5th epoch
    assert ax.get_ylim() == (0, 100) and ax.get_xlabel() == "epoch"
    assert list(ax.get_lines()[0].get_ydata()) == [70, 86, 90]
    long = plot_accuracy_per_epoch({"run": run([0.5] * 30)}).axes[0]
    assert len(long.get_xticks()) <= 15 and all(t == int(t) for t in long.get_xticks())
