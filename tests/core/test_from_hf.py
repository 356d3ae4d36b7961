"""from_hf gives the same logits as Hugging Face transformers' ViT, for both checkpoint layouts."""

import json

import pytest
import torch
from safetensors.torch import load_file

transformers = pytest.importorskip("transformers")
from transformers import ViTConfig as HFConfig  # noqa: E402
from transformers import ViTForImageClassification, ViTModel  # noqa: E402

from vitlib.converters import from_hf  # noqa: E402

CONFIGS = {
    "hf-defaults": dict(image_size=32, patch_size=4, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, num_labels=10),
    "tanh-gelu-eps1e-6": dict(image_size=24, patch_size=8, hidden_size=48, num_hidden_layers=3, num_attention_heads=3,
                              intermediate_size=96, num_labels=7, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6),
    "no-qkv-bias-1-channel": dict(image_size=16, patch_size=2, num_channels=1, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32, num_labels=3, qkv_bias=False,
                                  hidden_act="gelu_new"),
}


def random_hf_model(kwargs, seed=0):
    torch.manual_seed(seed)
    model = ViTForImageClassification(HFConfig(**kwargs)).eval()
    with torch.no_grad():  # random everything, including LayerNorms and the head, so nothing hides
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model


def inputs(kwargs, n=3):
    torch.manual_seed(1)
    return torch.randn(n, kwargs.get("num_channels", 3), kwargs["image_size"], kwargs["image_size"])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_from_model_current_layout(name):
    kwargs = CONFIGS[name]
    hf = random_hf_model(kwargs)
    if int(transformers.__version__.split(".")[0]) >= 5:  # transformers 5 renamed its modules
        assert any(".layers.0.attention.q_proj." in k for k in hf.state_dict())
    ours = from_hf(hf).eval()
    x = inputs(kwargs)
    with torch.no_grad():
        assert torch.allclose(ours(x), hf(pixel_values=x).logits, atol=1e-4)
    assert ours.cfg.norm_eps == kwargs.get("layer_norm_eps", 1e-12)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_from_hub_layout_and_config_json(name, tmp_path):
    kwargs = CONFIGS[name]
    hf = random_hf_model(kwargs, seed=3)
    hf.save_pretrained(tmp_path)  # transformers writes the layout of checkpoints on the hub
    state = load_file(tmp_path / "model.safetensors")
    assert "vit.encoder.layer.0.attention.attention.query.weight" in state
    config = json.loads((tmp_path / "config.json").read_text())
    ours = from_hf(state, config).eval()
    x = inputs(kwargs)
    with torch.no_grad():
        assert torch.allclose(ours(x), hf(pixel_values=x).logits, atol=1e-4)


def test_state_dict_with_transformers_config():
    kwargs = CONFIGS["tanh-gelu-eps1e-6"]
    hf = random_hf_model(kwargs, seed=5)
    ours = from_hf(hf.state_dict(), hf.config).eval()
    assert ours.cfg.gelu == "tanh"
    x = inputs(kwargs)
    with torch.no_grad():
        assert torch.allclose(ours(x), hf(pixel_values=x).logits, atol=1e-4)


def test_base_model_without_head_gives_features():
    kwargs = CONFIGS["hf-defaults"]
    torch.manual_seed(0)
    hf = ViTModel(HFConfig(**kwargs)).eval()  # with a pooler (dense + tanh), ignored
    ours = from_hf(hf).eval()
    x = inputs(kwargs)
    with torch.no_grad():
        assert torch.allclose(ours(x), hf(pixel_values=x).last_hidden_state[:, 0], atol=1e-4)


def test_bad_inputs_are_named():
    kwargs = CONFIGS["hf-defaults"]
    hf = random_hf_model(kwargs)
    with pytest.raises(ValueError, match="needs its config"):
        from_hf(hf.state_dict())
    state = hf.state_dict()
    state["vit.layers.0.attention.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="unexpected keys"):
        from_hf(state, hf.config)
    with pytest.raises(ValueError, match="unsupported hidden_act 'quick_gelu'"):
        from_hf(hf.state_dict(), {**hf.config.to_dict(), "hidden_act": "quick_gelu"})
