import numpy as np
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
    torch.optim.AdamW(groups)  # a valid optimizer spec


# --- notebook 07's experiment helpers ---

from vitlib.baselines import SmallCNN  # noqa: E402
from vitlib.finetune import digits_budget, finetune_run, prepare, sweep  # noqa: E402


def backbone():
    torch.manual_seed(0)
    return ViT(ViTConfig(image_size=16, patch_size=4, in_channels=1, num_classes=7, dim=16, depth=1, heads=2,
                         mlp_dim=32, head="mlp"))


def test_prepare_pretrained_keeps_the_backbone_and_zeroes_a_new_head():
    b = backbone()
    m = prepare(b, "pretrained", image_size=24)
    assert m.cfg.image_size == 24 and m.cfg.num_classes == 10 and m.cfg.head == "linear"
    assert torch.count_nonzero(m.head.weight) == 0 and torch.count_nonzero(m.head.bias) == 0
    assert m.pos_embed.pos_embed.shape == (1, 1 + 6 * 6, 16)
    assert torch.equal(m.encoder.blocks[0].attn.qkv.weight, b.encoder.blocks[0].attn.qkv.weight)
    assert b.cfg.image_size == 16 and b.cfg.num_classes == 7  # the backbone itself is left as it was


def test_prepare_scratch_and_cnn():
    b = backbone()
    s = prepare(b, "scratch", image_size=16, seed=1)
    assert s.cfg.replace(num_classes=7, head="mlp") == b.cfg  # the same architecture...
    assert not torch.equal(s.patch_embed.proj.weight, b.patch_embed.proj.weight)  # ...with fresh weights
    assert torch.equal(prepare(b, "scratch", 16, seed=1).patch_embed.proj.weight, s.patch_embed.proj.weight)
    assert isinstance(prepare(b, "cnn", 16), SmallCNN)
    with pytest.raises(ValueError, match="unknown init"):
        prepare(b, "imagenet", 16)


def test_digits_budget_keeps_the_test_split():
    x, y, xt, yt = digits_budget(3, image_size=16)
    assert x.shape == (30, 1, 16, 16) and torch.bincount(y).tolist() == [3] * 10
    x_all, _, xt_all, yt_all = digits_budget(None, image_size=16)
    assert len(x_all) == 1347 and torch.equal(xt, xt_all) and torch.equal(yt, yt_all)


def test_finetune_run_and_sweep(one_thread):
    b = backbone()
    m, h = finetune_run(b, "pretrained", 2, image_size=16, steps=4, precision="fp32")
    assert h.epochs == 4 and 0.0 <= h.test_acc[-1] <= 1.0  # 20 images, batch 64: one step per epoch
    assert m.cfg.num_classes == 10 and not torch.equal(m.patch_embed.proj.weight, b.patch_embed.proj.weight)
    _, again = finetune_run(b, "pretrained", 2, image_size=16, steps=4, precision="fp32")
    assert again.test_acc[-1] == h.test_acc[-1] and again.train_loss == h.train_loss  # deterministic
    assert all(np.isnan(h.test_acc[:-1]))  # with a label budget the test set is evaluated once, at the end
    _, full = finetune_run(b, "scratch", None, image_size=16, steps=44, precision="fp32")
    assert full.epochs == 2 and not np.isnan(full.test_acc).any()  # all labels: a learning curve
    known = {("scratch", 16, 2): [0.5]}
    results = sweep(b, budgets=[2], image_sizes=[16], seeds=(0, 1), steps=lambda budget: 2, precision="fp32",
                    results=known)
    assert results is known and set(results) == {("pretrained", 16, 2), ("scratch", 16, 2)}
    assert results["scratch", 16, 2] == [0.5] and len(results["pretrained", 16, 2]) == 2  # known cells kept
