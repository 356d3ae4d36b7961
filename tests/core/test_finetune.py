import pytest
import torch

from vitlib import ViT, ViTConfig
from vitlib.finetune import at_resolution, freeze, param_groups_lrd


def model(**kw):
    torch.manual_seed(0)
    return ViT(ViTConfig(**{**dict(image_size=16, patch_size=4, num_classes=5, dim=32, depth=3, heads=4,
                                   mlp_dim=64), **kw})).eval()


def test_at_resolution_resizes_pos_embed_and_keeps_the_rest():
    m = model()
    big = at_resolution(m, 32)
    assert big.cfg.image_size == 32 and big.pos_embed.pos_embed.shape == (1, 1 + 64, 32)
    assert torch.equal(big.pos_embed.pos_embed[:, 0], m.pos_embed.pos_embed[:, 0])  # class token kept aside
    assert torch.equal(big.encoder.blocks[1].mlp.fc1.weight, m.encoder.blocks[1].mlp.fc1.weight)
    assert big(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    same = at_resolution(m, 16)  # same grid: an exact copy
    x = torch.randn(2, 3, 16, 16)
    torch.nn.init.normal_(m.head.weight), same.head.weight.data.copy_(m.head.weight)
    assert torch.equal(same(x), m(x))
    assert at_resolution(model(pos_embed="sincos2d"), 24).pos_embed.pos_embed.shape == (1, 37, 32)
    with pytest.raises(ValueError, match="not divisible by patch size 4"):
        at_resolution(m, 30)


def test_freeze_parts():
    m = freeze(model(), "head")
    assert [n for n, p in m.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    m = freeze(model(), "last:1")
    trainable = {n.split(".")[0] if not n.startswith("encoder") else ".".join(n.split(".")[:3])
                 for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {"encoder.blocks.2", "norm", "head"}
    assert all(p.requires_grad for p in freeze(m, "all").parameters())
    with pytest.raises(ValueError, match="unknown trainable part"):
        freeze(m, "middle")


def test_layerwise_lr_decay_groups():
    m = model()
    groups = param_groups_lrd(m, lr=1.0, decay=0.5)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    wd_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert lr_of[id(m.head.weight)] == 1.0
    assert lr_of[id(m.encoder.blocks[2].attn.qkv.weight)] == 0.5
    assert lr_of[id(m.encoder.blocks[0].attn.qkv.weight)] == 0.125
    assert lr_of[id(m.patch_embed.proj.weight)] == 0.0625
    assert wd_of[id(m.encoder.blocks[0].norm1.weight)] == 0.0 and wd_of[id(m.pos_embed.pos_embed)] == 0.0
    assert wd_of[id(m.encoder.blocks[0].mlp.fc1.weight)] == 0.05
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))
    assert all(g["lr"] == g["lr_scale"] == 0.5 ** (4 - g["layer"]) for g in groups)  # fit scales the schedule by it
    torch.optim.AdamW(groups)  # a valid optimizer spec
