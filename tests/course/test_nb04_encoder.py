"""Tests of notebook 04 (encoder): the cost drawing and widget, the block and parameter-count checkers."""

import pytest
import torch
from helpers import changed, texts  # tests/course/helpers.py

from vitlib import ViTConfig
from vitlib.cost import count_params
from vitlib.course.exercise import ExerciseError
from vitlib.course import nb04_encoder as nb04
from vitlib.course.nb04_encoder import check_block_forward, check_param_count, plot_vit_cost, vit_cost_widget


def test_plot_vit_cost_is_labelled():
    fig = plot_vit_cost([5, 17, 65], [1e3, 1e4, 1e5], [1e6, 4e6, 1.6e7], [1e2, 1e3, 1e4], 17,
                        labels=["P=8", "P=4", "P=2"], title="cost")
    labels = texts(fig)
    for words in ("GFLOPs", "MiB", "sequence length", "cost"):
        assert words in labels


def test_cost_widget_shows_the_numbers_and_redraws():
    w = vit_cost_widget()
    assert "86,567,656" in w.message.value  # ViT-B/16 at 224 px
    assert "197" in w.message.value
    first = w.figure
    w.controls["patch_size"].value = 32
    assert changed(first, w.figure)
    assert f"{count_params(ViTConfig.preset('B/32')):,}" in w.message.value
    before = w.figure
    w.controls["depth"].value = 6
    assert changed(before, w.figure)


def test_cost_widget_presets_fill_the_controls():
    w = vit_cost_widget(image_size=32, patch_size=4, dim=64, depth=2, heads=2)
    w.controls["preset"].value = "L/16"
    assert w.values == {"preset": "L/16", "image_size": 224, "patch_size": 16, "dim": 1024, "depth": 24,
                        "heads": 16, "mlp_ratio": 4.0}
    assert "304,326,632" in w.message.value
    w.controls["heads"].value = 8  # editing a control leaves the preset
    assert w.controls["preset"].value == "custom"


@pytest.mark.parametrize("control, value, message", [
    ("heads", 10, "dim 768 is not divisible by heads 10"),
    ("image_size", 30, "image size 30 is not divisible by patch size 16"),
    ("patch_size", 0, "patch_size must be at least 1, got 0"),
    ("dim", 0, "dim must be at least 1"),
])
def test_cost_widget_invalid_combinations_show_the_message(control, value, message):
    w = vit_cost_widget()
    good = w.figure
    w.controls[control].value = value
    assert message in w.message.value and "Traceback" not in w.message.value
    assert w.figure is good and w.canvas.layout.display == "none"
    w.controls[control].value = {"heads": 12, "image_size": 224, "patch_size": 16, "dim": 768}[control]
    assert "86,567,656" in w.message.value and w.canvas.layout.display != "none"


def block_ok(z, norm1, attn, norm2, mlp):
    z = z + attn(norm1(z))
    return z + mlp(norm2(z))


def test_block_forward_correct(capsys):
    assert check_block_forward(block_ok) is True
    assert "is correct" in capsys.readouterr().out


def _post(z, n1, a, n2, m):
    z = n1(z + a(z))
    return n2(z + m(z))


def _no_res(z, n1, a, n2, m):
    return m(n2(a(n1(z))))


def _no_res1(z, n1, a, n2, m):
    z = a(n1(z))
    return z + m(n2(z))


def _no_res2(z, n1, a, n2, m):
    return m(n2(z + a(n1(z))))


def _normed_res(z, n1, a, n2, m):
    z = n1(z) + a(n1(z))
    return n2(z) + m(n2(z))


def _parallel(z, n1, a, n2, m):
    return z + a(n1(z)) + m(n2(z))


def _mlp_first(z, n1, a, n2, m):
    z = z + m(n2(z))
    return z + a(n1(z))


@pytest.mark.parametrize("fn, message", [
    (_post, "post-norm"),
    (_no_res, "both residual connections are missing"),
    (_no_res1, "first residual connection is missing"),
    (_no_res2, "second residual connection is missing"),
    (_normed_res, "residuals must carry z itself"),
    (_parallel, "not in parallel"),
    (lambda z, n1, a, n2, m: block_ok(z, n2, a, n1, m), "LayerNorms are swapped"),
    (_mlp_first, "attention comes first"),
    (lambda z, n1, a, n2, m: block_ok(z, n1, a, n2, m)[:, 0], "a block maps \\(B, T, D\\)"),
])
def test_block_forward_mistakes_are_named(fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_block_forward(fn)


def count_ok(image_size, patch_size, in_channels, dim, depth, mlp_dim, num_classes):
    n, pc = (image_size // patch_size) ** 2, patch_size**2 * in_channels
    block = (2 * dim + (3 * dim * dim + 3 * dim) + (dim * dim + dim) + 2 * dim + (dim * mlp_dim + mlp_dim)
             + (mlp_dim * dim + dim))
    return pc * dim + dim + dim + (n + 1) * dim + depth * block + 2 * dim + dim * num_classes + num_classes


def test_param_count_correct(capsys):
    assert count_ok(224, 16, 3, 768, 12, 3072, 1000) == count_params(ViTConfig.preset("B/16")) == 86_567_656
    assert check_param_count(count_ok) is True
    assert check_param_count(lambda *a: float(count_ok(*a))) is True  # an integral float is accepted
    assert "is correct" in capsys.readouterr().out


@pytest.mark.parametrize("minus, message", [
    (lambda s, p, c, d, L, m, k: d, "the class token \\(D\\)"),
    (lambda s, p, c, d, L, m, k: 2 * d, "the final LayerNorm"),
    (lambda s, p, c, d, L, m, k: L * 4 * d, "the two LayerNorms in every block"),
    (lambda s, p, c, d, L, m, k: L * (d * d + d), "output projection U_msa"),
    (lambda s, p, c, d, L, m, k: d * k + k, "the classification head"),
    (lambda s, p, c, d, L, m, k: k, "the head's bias"),
    (lambda s, p, c, d, L, m, k: L * (5 * d + m), "the biases inside every block"),
    (lambda s, p, c, d, L, m, k: L * 4 * d + 2 * d, "the final LayerNorm of Eq. 4 \\(gain and bias: 2D\\) and the two"),
])
def test_param_count_mistakes_are_named(minus, message):
    with pytest.raises(ExerciseError, match=message):
        check_param_count(lambda *a: count_ok(*a) - minus(*a))


def test_param_count_other_errors():
    with pytest.raises(ExerciseError, match="heads do not add parameters"):
        check_param_count(lambda *a: count_ok(*a) + 12345)
    with pytest.raises(ExerciseError, match="Go through the parts"):
        check_param_count(lambda *a: count_ok(*a) - 7)
    with pytest.raises(ExerciseError, match="return an int"):
        check_param_count(lambda *a: "86M")


def test_checkers_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_block_forward(block_ok)
    check_param_count(count_ok)
    assert torch.equal(torch.rand(3), expected)


def test_the_cost_widget_shows_the_new_messages():
    w = vit_cost_widget(image_size=32, patch_size=4, dim=64, depth=2, heads=2)  # heads is a slider from 1
    for control, value, message in [("image_size", 0, "image_size must be at least 1, got 0"),
                                     ("patch_size", -4, "patch_size must be at least 1, got -4 (the paper uses"),
                                     ("dim", -1, "dim must be at least 1, got -1")]:
        w.controls[control].value = value
        assert message in w.message.value and "Traceback" not in w.message.value
        assert w.canvas.layout.display == "none"
        w.controls[control].value = {"image_size": 32, "patch_size": 4, "dim": 64}[control]
        assert w.canvas.layout.display != "none"


# ------------------------------ capstone: the whole forward pass


def vit_forward(images, params):
    """The notebook's reference solution, written independently of the checker."""
    import torch.nn.functional as F
    from einops import rearrange

    def layer_norm(x, gain, bias):
        mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + 1e-6) * gain + bias

    p, heads = params["patch_size"], params["heads"]
    x = rearrange(images, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p) @ params["E"] + params["E_bias"]
    z = torch.cat([params["x_class"].expand(len(x), 1, -1), x], dim=1) + params["E_pos"]
    z0 = z
    for layer in params["layers"]:
        n = layer_norm(z, layer["ln1_gain"], layer["ln1_bias"])
        q, k, v = rearrange(n @ layer["W_qkv"] + layer["b_qkv"], "b t (three h d) -> three b h t d", three=3, h=heads)
        a = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)
        z = z + rearrange(a @ v, "b h t d -> b t (h d)") @ layer["U_msa"] + layer["b_msa"]
        n = layer_norm(z, layer["ln2_gain"], layer["ln2_bias"])
        z = z + F.gelu(n @ layer["W_fc1"] + layer["b_fc1"]) @ layer["W_fc2"] + layer["b_fc2"]
    y = layer_norm(z[:, 0], params["ln_gain"], params["ln_bias"])
    return z0, z, y, y @ params["W_head"] + params["b_head"]


def test_capstone_reference_solution_passes_and_equals_vitlib(capsys):
    assert nb04.check_vit_forward(vit_forward)
    assert "✓ vit_forward is correct" in capsys.readouterr().out
    model = nb04.capstone_model(seed=3)
    images = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(vit_forward(images, nb04.vit_weights(model))[-1], model(images), atol=1e-5)


def test_capstone_not_attempted_and_wrong_return(capsys):
    def untouched(images, params):
        raise NotImplementedError

    assert nb04.check_vit_forward(untouched) is False
    assert "not attempted yet" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="return four tensors"):
        nb04.check_vit_forward(lambda images, params: vit_forward(images, params)[-1])


@pytest.mark.parametrize("flags, words", [
    (dict(pos=False), "Eq. 1 is off: E_pos is missing"),
    (dict(cls_first=False), "Eq. 1 is off: the class token goes in FRONT"),
    (dict(flatten="(c p1 p2)"), "Eq. 1 is off: the patches are flattened in (c p1 p2)"),
    (dict(scale="none"), "Eq. 2 is off: the attention scores lack the scale"),
    (dict(scale="D"), "not 1/sqrt(D)"),
    (dict(softmax_dim=-2), "the softmax runs over the keys"),
    (dict(split_heads=False), "one head of width D"),
    (dict(u_msa=False), "U_msa"),
    (dict(post_norm=True), "post-norm"),
    (dict(residual=False), "residual connections are missing"),
    (dict(gelu="tanh"), "Eq. 3 is off"),
    (dict(final_ln=False), "Eq. 4 is off: y is the class token after one more LayerNorm"),
    (dict(read="mean"), "not the mean of all tokens"),
])
def test_capstone_names_the_equation_that_is_off(flags, words):
    with pytest.raises(ExerciseError, match=None) as error:
        nb04.check_vit_forward(lambda images, params: nb04._forward(images, params, **flags))
    assert words in str(error.value)


def test_capstone_head_and_shape_errors_say_which_stage():
    def no_head_bias(images, params):
        z0, z, y, _ = vit_forward(images, params)
        return z0, z, y, y @ params["W_head"]

    with pytest.raises(ExerciseError, match=r"the logits \(the head"):
        nb04.check_vit_forward(no_head_bias)

    def no_class_token(images, params):
        z0, z, y, logits = vit_forward(images, params)
        return z0[:, 1:], z, y, logits

    with pytest.raises(ExerciseError, match=r"z0 \(Eq. 1\) has shape \(2, 16, 16\), expected \(2, 17, 16\)"):
        nb04.check_vit_forward(no_class_token)


def test_vit_weights_refuses_other_layouts():
    from vitlib import ViT

    gap = ViT(ViTConfig(image_size=16, patch_size=4, dim=16, depth=1, heads=2, mlp_dim=32, num_classes=5,
                        class_token=False, pool="mean"))
    with pytest.raises(ValueError, match="paper's layout"):
        nb04.vit_weights(gap)


def test_cost_figure_puts_the_numbers_in_the_picture_and_its_patch_labels_do_not_collide():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    w = vit_cost_widget()
    fig = w.figure
    panel_texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "86,567,656" in panel_texts and "197" in panel_texts  # the still picture holds the table
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in fig.axes:
        for child in ax.child_axes:  # the patch-size axis on top
            boxes = [t.get_window_extent(renderer) for t in child.get_xticklabels() if t.get_text()]
            assert boxes and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
