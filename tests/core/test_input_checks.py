"""A student's usual mistakes get a ValueError/TypeError naming the argument and the fix (vitlib.validate)."""

import numpy as np
import pytest
import torch

from vitlib import ViT, ViTConfig
from vitlib.attention import MultiHeadSelfAttention, check_heads, fast_attention, scaled_dot_product_attention
from vitlib.baselines import SmallCNN, SmallResNet
from vitlib.hybrid import hybrid_vit
from vitlib.converters import from_google_npz, from_timm
from vitlib.data import load_digits, resize_images, split_dataset
from vitlib.fractals import FractalDataset
from vitlib.embeddings import ClassToken, PositionEmbedding, resize_pos_embed
from vitlib.patches import patchify, unpatchify
from vitlib.probes import attention_maps, attention_rollout, embedding_filter_pcs, mean_attention_distance
from vitlib.train import evaluate, fit, predict


def grey_vit(**overrides):
    cfg = dict(image_size=32, patch_size=8, in_channels=1, num_classes=10, dim=16, depth=1, heads=2, mlp_dim=32)
    return ViT(ViTConfig(**{**cfg, **overrides})).eval()


# ----------------------------------------------------------------------------- the cases of the issue


def test_uint8_images_say_convert_to_float():
    with pytest.raises(TypeError, match=r"images hold whole numbers \(torch.uint8\).*images.float\(\) / 255"):
        grey_vit()(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))


def test_numpy_images_name_torch_from_numpy():
    with pytest.raises(TypeError, match=r"images must be a torch tensor .*got a numpy array; "
                                        r"convert with torch.from_numpy\(images\).float\(\)$"):
        grey_vit()(np.zeros((2, 1, 32, 32), dtype=np.float32))
    # A uint8 channels-last batch, as images come from PIL or imageio: one conversion fixes all three.
    with pytest.raises(TypeError, match=r"torch.from_numpy\(images\).permute\(0, 3, 1, 2\).float\(\) / 255"):
        grey_vit()(np.zeros((2, 32, 32, 1), dtype=np.uint8))


def test_channels_last_batch_is_named_with_the_permute():
    with pytest.raises(ValueError, match=r"images of shape \(2, 32, 32, 1\) look channels-last \(B, H, W, C\).*"
                                         r"images.permute\(0, 3, 1, 2\)") as info:
        grey_vit()(torch.zeros(2, 32, 32, 1))
    assert "in_channels=32" not in str(info.value)  # the old, wrong fix


def test_resize_pos_embed_to_grid_zero():
    with pytest.raises(ValueError, match=r"new_grid must be at least 1, got 0 \(patches per side"):
        resize_pos_embed(torch.zeros(1, 17, 8), 0)


def test_heads_zero_says_at_least_one():
    with pytest.raises(ValueError, match=r"heads must be at least 1, got 0 \(ViT-B has 12 heads") as info:
        ViTConfig(heads=0)
    assert "multiple of 0" not in str(info.value)
    with pytest.raises(ValueError, match="heads must be at least 1, got 0"):
        MultiHeadSelfAttention(64, 0)
    with pytest.raises(ValueError, match="heads must be at least 1, got -2"):
        check_heads(64, -2)


@pytest.mark.parametrize("field", ["dropout", "attention_dropout", "drop_path"])
@pytest.mark.parametrize("value", [2.0, 1.0, -0.1, float("nan")])
def test_rates_outside_0_1_are_refused(field, value):
    with pytest.raises(ValueError, match=rf"{field} is a probability and must be in \[0, 1\), got {value}"):
        ViTConfig(**{field: value})


# ----------------------------------------------------------------------------- more of the same kinds


@pytest.mark.parametrize("shape, fix", [
    ((1, 32, 32), r"add the batch axis with images\[None\]"),
    ((32, 32), r"images\[None, None\]"),
    ((2, 3, 32, 32), r"to grey with images.mean\(dim=1, keepdim=True\), or build the model with in_channels=3"),
])
def test_missing_axes_and_wrong_channels(shape, fix):
    with pytest.raises(ValueError, match=fix):
        grey_vit()(torch.zeros(shape))


def test_one_channels_last_image_of_an_rgb_model():
    with pytest.raises(ValueError, match=r"one image in \(H, W, C\) layout: use images.permute\(2, 0, 1\)\[None\]"):
        grey_vit(in_channels=3)(torch.zeros(32, 32, 3))


def test_float64_images_and_the_models_dtype():
    with pytest.raises(TypeError, match=r"images are torch.float64 \(numpy arrays are float64 by default\) but the "
                                        r"model's weights are torch.float32; convert with images.to\(torch.float32\)"):
        grey_vit()(torch.zeros(1, 1, 32, 32, dtype=torch.float64))
    model = grey_vit().to(torch.bfloat16)
    with pytest.raises(TypeError, match=r"images.to\(torch.bfloat16\)"):
        model(torch.zeros(1, 1, 32, 32))
    assert model(torch.zeros(1, 1, 32, 32, dtype=torch.bfloat16)).shape == (1, 10)


def test_autocast_inputs_of_any_low_precision_are_fine():
    model = grey_vit()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            assert model(torch.zeros(2, 1, 32, 32, dtype=dtype)).shape == (2, 10)


def test_images_on_another_device_than_the_model():
    model = grey_vit().to("meta")  # stands in for a GPU: the check compares devices, whatever they are
    with pytest.raises(ValueError, match=r"images are on cpu but the model is on meta; move them with "
                                         r"images.to\('meta'\)"):
        model(torch.zeros(1, 1, 32, 32))


def test_pil_images_get_the_whole_conversion():
    from PIL import Image

    with pytest.raises(TypeError, match=r"got a Image; convert with torch.from_numpy\(np.asarray\(images\)\)"
                                        r".permute\(2, 0, 1\).float\(\) / 255"):
        grey_vit(in_channels=3)(Image.new("RGB", (32, 32)))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(heads=2.0), TypeError, r"heads must be a whole number, got 2.0 \(float\)"),
    (dict(image_size=224.0), TypeError, "image_size must be a whole number"),
    (dict(qkv_bias="False"), TypeError, "qkv_bias must be True or False, got 'False'"),
    (dict(num_classes=-1), ValueError, r"num_classes must be at least 0, got -1 \(0 means no head"),
    (dict(norm_eps=0.0), ValueError, "norm_eps must be greater than 0"),
    (dict(head_hidden_dim=0), ValueError, "head_hidden_dim must be at least 1"),
    (dict(patch_size=0), ValueError, r"patch_size must be at least 1, got 0 \(the paper uses 14, 16 or 32\)"),
])
def test_config_fields_types_and_ranges(kwargs, error, message):
    with pytest.raises(error, match=message):
        ViTConfig(**kwargs)


def test_numpy_integers_are_whole_numbers():
    cfg = ViTConfig(image_size=np.int64(32), patch_size=np.int64(8), dim=np.int64(16), heads=np.int64(2))
    assert cfg.num_patches == 16


def test_patchify_and_unpatchify_take_numpy_and_integers():
    x = torch.randint(0, 255, (2, 3, 8, 12), dtype=torch.uint8)
    patches = patchify(x.numpy(), 4)
    assert isinstance(patches, np.ndarray) and np.array_equal(patches, patchify(x, 4).numpy())
    assert np.array_equal(unpatchify(patches, 4, (2, 3)), x.numpy())


def test_patchify_names_a_channels_last_batch():
    with pytest.raises(ValueError, match=r"look channels-last.*images.permute\(0, 3, 1, 2\)"):
        patchify(torch.zeros(2, 32, 32, 3), 4)
    with pytest.raises(TypeError, match="patch_size must be a whole number"):
        patchify(torch.zeros(2, 3, 32, 32), 4.0)
    with pytest.raises(ValueError, match=r"expected patches of shape \(B, N, P\*P\*C\)"):
        unpatchify(torch.zeros(16, 48), 4)


def test_resize_pos_embed_arguments():
    pe = torch.zeros(1, 17, 8)
    with pytest.raises(ValueError, match=r"add the batch axis with pos_embed\[None\]"):
        resize_pos_embed(pe[0], 8)
    with pytest.raises(TypeError, match=r"torch.from_numpy\(pos_embed\)"):
        resize_pos_embed(pe.numpy(), 8)
    with pytest.raises(ValueError, match="unknown mode 'linear'"):
        resize_pos_embed(pe, 8, mode="linear")
    with pytest.raises(ValueError, match="antialias=True works with mode 'bilinear' or 'bicubic' only"):
        resize_pos_embed(pe, 8, mode="nearest", antialias=True)
    with pytest.raises(ValueError, match="num_prefix_tokens"):
        resize_pos_embed(pe, 8, num_prefix_tokens=17)
    assert resize_pos_embed(pe, 8, mode="nearest-exact").shape == (1, 65, 8)  # align_corners is left out for it


def test_token_modules_name_the_shape():
    with pytest.raises(ValueError, match=r"expected x of shape \(B, T, D=8\).*got shape \(5, 4\); .*x\[None\]"):
        ClassToken(8)(torch.zeros(5, 4))
    with pytest.raises(ValueError, match=r"expected x of shape \(B, T, D=8\)"):
        PositionEmbedding(4, 8)(torch.zeros(1, 5, 6))
    with pytest.raises(ValueError, match=r"expected x of shape \(B, T, D=8\)"):
        MultiHeadSelfAttention(8, 2)(torch.zeros(1, 5, 6))
    with pytest.raises(TypeError, match="x hold whole numbers"):
        MultiHeadSelfAttention(8, 2)(torch.zeros(1, 5, 8, dtype=torch.int64))


def test_attention_functions_check_q_k_v():
    q = torch.rand(1, 2, 5, 4)
    for attention in (scaled_dot_product_attention, fast_attention):
        with pytest.raises(ValueError, match=r"q, k and v do not match.*k \(1, 2, 5, 3\)"):
            attention(q, q[..., :3], q)
        with pytest.raises(TypeError, match="one dtype"):
            attention(q, q.double(), q)
        with pytest.raises(ValueError, match=r"dropout_p is a probability"):
            attention(q, q, q, dropout_p=1.0)
        with pytest.raises(TypeError, match=r"k must be a torch tensor"):
            attention(q, q.numpy(), q)
    out, weights = scaled_dot_product_attention(q[0, 0], q[0, 0], q[0, 0])  # any leading axes: (T, d)
    assert out.shape == (5, 4) and weights.shape == (5, 5)


def test_probes_check_their_arguments():
    attn = torch.rand(2, 3, 17, 17).softmax(-1)
    with pytest.raises(ValueError, match=r"attentions must be a list of L layers.*for a single layer pass \[attn\]"):
        attention_rollout(attn)
    with pytest.raises(ValueError, match="all layers of attentions must have one shape"):
        attention_rollout([attn, attn[:, :, :10, :10]])
    with pytest.raises(ValueError, match="at least one layer"):
        mean_attention_distance([], 4)
    with pytest.raises(ValueError, match="patch_size must be at least 1"):
        mean_attention_distance(attn, 0)
    with pytest.raises(TypeError, match="query must be a whole number"):
        attention_maps(attn, 1.5)
    with pytest.raises(TypeError, match="n must be a whole number"):
        embedding_filter_pcs(torch.rand(16, 1, 4, 4), n=2.5)
    with pytest.raises(TypeError, match="SmallCNN has no patch embedding"):
        embedding_filter_pcs(SmallCNN())
    # numpy arrays are read as they are: the probes are read-outs
    assert torch.allclose(mean_attention_distance(attn.numpy(), 4), mean_attention_distance(attn, 4))


def test_data_functions():
    with pytest.raises(TypeError, match=r"images hold whole numbers.*images.float\(\) / 255"):
        resize_images(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), 16)
    with pytest.raises(TypeError, match=r"labels must be a torch tensor.*torch.from_numpy\(labels\)"):
        split_dataset(torch.zeros(8, 1, 4, 4), np.arange(8) % 2)
    with pytest.raises(ValueError, match="seed must be at least 0"):
        load_digits(seed=-1)
    with pytest.raises(ValueError, match=r"train_size as a fraction must be in \(0, 1\]"):
        load_digits(train_size=1.5)
    with pytest.raises(ValueError, match="max_maps must be at least 2"):
        FractalDataset(max_maps=1)


def test_training_arguments():
    model = grey_vit(image_size=8, patch_size=4)
    x, y = torch.rand(4, 1, 8, 8), torch.arange(4) % 2
    with pytest.raises(TypeError, match=r"train images hold whole numbers.*float\(\) / 255"):
        fit(model, ((x * 255).to(torch.uint8), y), progress=False)
    with pytest.raises(TypeError, match=r"train images must be a torch tensor.*torch.from_numpy\(train images\)"):
        fit(model, (x.numpy(), y), progress=False)
    with pytest.raises(TypeError, match=r"lr must be a number, got '1e-3' \(str\)"):
        fit(model, (x, y), lr="1e-3", progress=False)
    with pytest.raises(ValueError, match="grad_clip must be greater than 0"):
        fit(model, (x, y), grad_clip=0, progress=False)
    with pytest.raises(TypeError, match=r"model must be a torch nn.Module such as ViT\(cfg\), got a tuple"):
        fit((x, y), model, progress=False)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        predict(model, (x, y), batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        evaluate(model, (x, y), batch_size=0)


def test_converters_plain_arguments():
    state = {k.replace("encoder.blocks.", "blocks."): v for k, v in grey_vit().state_dict().items()}
    state["cls_token"], state["pos_embed"] = state.pop("cls_token.token"), state.pop("pos_embed.pos_embed")
    assert from_timm(state, heads=2).cfg.heads == 2
    with pytest.raises(ValueError, match="heads must be at least 1, got 0"):  # was: silently the default
        from_timm(state, heads=0)
    with pytest.raises(ValueError, match=r"timm model: this model does not look like a timm VisionTransformer"):
        from_timm(grey_vit())  # a vitlib ViT is not a timm model
    with pytest.raises(ValueError, match="Google .npz: expected .* a state dict .*got a list"):
        from_google_npz([1, 2])


def test_baselines_forward():
    with pytest.raises(TypeError, match=r"images.float\(\) / 255"):
        SmallCNN(1, 10)(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"channels-last.*permute\(0, 3, 1, 2\)"):
        SmallResNet(3, 10)(torch.zeros(2, 8, 8, 3))
    with pytest.raises(TypeError, match=r"torch.from_numpy\(images\)"):
        hybrid_vit(ViTConfig(image_size=16, patch_size=2, in_channels=1, num_classes=10, dim=16, depth=1, heads=2,
                             mlp_dim=32))(np.zeros((1, 1, 16, 16), dtype=np.float32))
    with pytest.raises(ValueError, match=r"dropout is a probability"):
        SmallCNN(dropout=-1)


def test_freeze_last_n():
    from vitlib.finetune import freeze

    model = grey_vit(depth=2)
    for bad in ("last:x", "last:-1", "last:3"):
        with pytest.raises(ValueError, match=r"N in 'last:N' must be a whole number from 0 to the depth \(2\)"):
            freeze(model, bad)
    freeze(model, "last:1")
    assert not any(p.requires_grad for p in model.encoder.blocks[0].parameters())
    assert all(p.requires_grad for p in model.encoder.blocks[1].parameters())


def test_labels_outside_the_models_classes():
    model = grey_vit(image_size=8, patch_size=4)  # 10 classes
    x = torch.rand(4, 1, 8, 8)
    with pytest.raises(ValueError, match=r"train labels run from 1 to 10, but the model has 10 classes \(0..9\); "
                                         r"number the classes from 0 \(e.g. labels - 1\)"):
        fit(model, (x, torch.tensor([1, 2, 3, 10])), progress=False)
    with pytest.raises(ValueError, match=r"data labels run from -1 to 0"):
        evaluate(model, (x, torch.tensor([0, 0, -1, 0])))
    with pytest.raises(ValueError, match=r"or build the model with num_classes=13"):
        evaluate(SmallCNN(1, 10), (x, torch.tensor([0, 0, 12, 0])))
