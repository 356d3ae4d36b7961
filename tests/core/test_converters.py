"""Converters against reference forwards of each source, written here from their documented layouts
(timm's VisionTransformer, lucidrains' vit-pytorch ViT, vit_jax's .npz), and every bad input with its message.

The reference modules below use the sources' own attribute and key names, so their state dicts have
the sources' layouts; their forward passes are written from the sources' architectures, independently
of vitlib's code. Weights are random everywhere (LayerNorms and biases included), so nothing hides.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from einops.layers.torch import Rearrange
from layouts import google_arrays  # tests/core/layouts.py
from torch import nn

from vitlib.converters import from_google_npz, from_timm, from_vit_pytorch


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.2)
    return module.eval()


def assert_same_logits(ours, reference, images, atol=1e-4):
    with torch.no_grad():
        a, b = ours.eval()(images), reference(images)
    assert a.shape == b.shape
    assert (a - b).abs().max() <= atol, (a - b).abs().max()


# ----------------------------------------------------------------------------- timm

class TimmAttention(nn.Module):
    def __init__(self, dim, num_heads, qkv_bias):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, d_h)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class TimmMlp(nn.Module):
    def __init__(self, dim, hidden, act):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), act, nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class TimmBlock(nn.Module):
    def __init__(self, dim, heads, mlp, qkv_bias, act, eps):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=eps), TimmAttention(dim, heads, qkv_bias)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=eps), TimmMlp(dim, mlp, act)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TimmViT(nn.Module):
    """timm's VisionTransformer as documented: its names, class_token / global_pool / fc_norm switches."""

    def __init__(self, img_size=16, patch_size=4, in_chans=3, num_classes=5, embed_dim=32, depth=2, num_heads=4,
                 mlp_dim=64, qkv_bias=True, class_token=True, global_pool="token", fc_norm=None,
                 act=None, eps=1e-6):
        super().__init__()
        use_fc_norm = global_pool == "avg" if fc_norm is None else fc_norm
        self.global_pool, self.num_prefix_tokens = global_pool, int(class_token)
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        n = (img_size // patch_size) ** 2
        self.pos_embed = nn.Parameter(torch.zeros(1, n + self.num_prefix_tokens, embed_dim))
        self.blocks = nn.Sequential(*[TimmBlock(embed_dim, num_heads, mlp_dim, qkv_bias, act or nn.GELU(), eps)
                                      for _ in range(depth)])
        self.norm = nn.Identity() if use_fc_norm else nn.LayerNorm(embed_dim, eps=eps)
        self.fc_norm = nn.LayerNorm(embed_dim, eps=eps) if use_fc_norm else nn.Identity()
        self.head = nn.Linear(embed_dim, num_classes) if num_classes else nn.Identity()

    def forward(self, images):
        x = rearrange(self.patch_embed.proj(images), "b d h w -> b (h w) d")
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)
        x = self.norm(self.blocks(x + self.pos_embed))
        x = x[:, 0] if self.global_pool == "token" else x[:, self.num_prefix_tokens:].mean(1)
        return self.head(self.fc_norm(x))


TIMM_CASES = {
    "token": dict(),
    "token-no-qkv-bias-1-channel-p2-K0": dict(qkv_bias=False, in_chans=1, patch_size=2, num_classes=0),
    "token-tanh-gelu-eps1e-5": dict(act=nn.GELU(approximate="tanh"), eps=1e-5),
    "avg-fc_norm": dict(global_pool="avg"),
    "avg-fc_norm=False": dict(global_pool="avg", fc_norm=False),
    "gap-no-class-token": dict(class_token=False, global_pool="avg", fc_norm=False),
    "gap-no-class-token-fc_norm": dict(class_token=False, global_pool="avg"),
}


@pytest.mark.parametrize("name", list(TIMM_CASES))
def test_from_timm_model_reads_everything(name):
    kw = TIMM_CASES[name]
    timm_model = randomise(TimmViT(**kw), seed=1)
    ours = from_timm(timm_model)
    c = ours.cfg
    pool = {"token": "cls", "avg": "mean"}[kw.get("global_pool", "token")]
    assert (c.heads, c.class_token, c.pool) == (4, kw.get("class_token", True), pool)
    images = torch.randn(3, kw.get("in_chans", 3), 16, 16)
    assert_same_logits(ours, timm_model, images)


@pytest.mark.parametrize("name", ["token", "avg-fc_norm", "gap-no-class-token", "gap-no-class-token-fc_norm"])
def test_from_timm_state_dict(name):
    """The state dict says class token, and norm or fc_norm; heads must be given at this width."""
    kw = TIMM_CASES[name]
    timm_model = randomise(TimmViT(**kw), seed=2)
    ours = from_timm(timm_model.state_dict(), heads=4)
    assert ours.cfg.final_norm == ("after_pool" if "fc_norm" in name else "before_pool")
    assert_same_logits(ours, timm_model, torch.randn(3, 3, 16, 16))


def test_timm_avg_without_fc_norm_needs_the_model_or_pool():
    """avg pooling with fc_norm=False has the state dict of token pooling: only the model, or pool=, tells."""
    timm_model = randomise(TimmViT(global_pool="avg", fc_norm=False), seed=3)
    images = torch.randn(3, 3, 16, 16)
    assert_same_logits(from_timm(timm_model), timm_model, images)
    assert_same_logits(from_timm(timm_model.state_dict(), heads=4, pool="mean"), timm_model, images)
    assumed = from_timm(timm_model.state_dict(), heads=4)
    assert assumed.cfg.pool == "cls"  # timm's default; documented in from_timm


def test_from_timm_vit_h14_width_gets_16_heads_not_20():
    """ViT-H/14 has heads of 80: dim // 64 = 20 would be wrong. One block, 28 px, so it runs here."""
    timm_model = randomise(TimmViT(img_size=28, patch_size=14, embed_dim=1280, depth=1, num_heads=16, mlp_dim=5120,
                                   num_classes=10), seed=4)
    ours = from_timm(timm_model.state_dict())
    assert ours.cfg.heads == 16
    assert_same_logits(ours, timm_model, torch.randn(2, 3, 28, 28))


def test_from_timm_refusals_name_the_source_keys():
    timm_model = randomise(TimmViT(), seed=5)
    sd = timm_model.state_dict()
    with pytest.raises(ValueError, match=r"D=32, MLP size 64 match no preset; pass heads=, e\.g\. from_timm"):
        from_timm(sd)
    gap = TimmViT(class_token=False, global_pool="avg", fc_norm=False).state_dict()
    with pytest.raises(ValueError, match="models without a class token break the presets' rule.*pass heads="):
        from_timm(gap)
    with pytest.raises(ValueError, match=r"^timm state dict: missing 'pos_embed'; these are timm names"):
        from_timm({k: v for k, v in sd.items() if k != "pos_embed"}, heads=4)
    with pytest.raises(ValueError, match=r"^timm state dict: missing 'blocks\.1\.attn\.qkv\.bias'\. "):
        from_timm({k: v for k, v in sd.items() if k != "blocks.1.attn.qkv.bias"}, heads=4)
    with pytest.raises(ValueError, match=r"entries 'model', 'optimizer' hold dicts.*checkpoint\['model'\]"):
        from_timm({"model": sd, "optimizer": {"lr": torch.tensor(0.1)}, "epoch": 3})
    with pytest.raises(ValueError, match=r"unexpected keys 'blocks\.0\.ls1\.gamma', 'blocks\.0\.ls2\.gamma' "
                                         r"\(LayerScale: not supported\)"):
        from_timm({**sd, "blocks.0.ls1.gamma": torch.ones(32), "blocks.0.ls2.gamma": torch.ones(32)}, heads=4)
    with pytest.raises(ValueError, match=r"'pos_embed' holds 18 rows, not 1 \+ a square grid"):
        from_timm({**sd, "pos_embed": torch.zeros(1, 18, 32)}, heads=4)
    with pytest.raises(ValueError, match=r"'blocks\.0\.mlp\.fc2\.weight' \(32, 48\) cannot make vitlib's "
                                         r"encoder\.blocks\.0\.mlp\.fc2\.weight \(32, 64\)"):
        from_timm({**sd, "blocks.0.mlp.fc2.weight": torch.zeros(32, 48)}, heads=4)
    with pytest.raises(ValueError, match="qkv_bias=False contradicts the checkpoint, which has qkv_bias=True"):
        from_timm(sd, heads=4, qkv_bias=False)
    with pytest.raises(ValueError, match="heads=2 contradicts the checkpoint, which has heads=4 .*num_heads"):
        from_timm(timm_model, heads=2)
    with pytest.raises(ValueError, match="global_pool='max' is not supported"):
        from_timm(TimmViT(global_pool="max"))
    with pytest.raises(ValueError, match="the MLP's activation is SiLU, not GELU"):
        from_timm(TimmViT(act=nn.SiLU()))


def test_from_timm_given_a_hugging_face_state_dict_says_which_converter():
    hf_like = {"vit.embeddings.patch_embeddings.projection.weight": torch.zeros(32, 3, 4, 4),
               "vit.embeddings.cls_token": torch.zeros(1, 1, 32)}
    with pytest.raises(ValueError, match=r"missing 'patch_embed\.proj\.weight', 'pos_embed', .*use from_hf"):
        from_timm(hf_like, heads=4)


# ----------------------------------------------------------------------------- vit-pytorch

class VPFeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0),
                                 nn.Linear(hidden, dim), nn.Dropout(0.0))

    def forward(self, x):
        return self.net(x)


class VPAttention(nn.Module):
    def __init__(self, dim, heads, dim_head):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head**-0.5
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        project = not (heads == 1 and dim_head == dim)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0)) if project else nn.Identity()

    def forward(self, x):
        q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in self.to_qkv(self.norm(x)).chunk(3, -1))
        weights = (q @ k.transpose(-1, -2) * self.scale).softmax(-1)
        return self.to_out(rearrange(weights @ v, "b h n d -> b n (h d)"))


class VPTransformer(nn.Module):
    def __init__(self, dim, depth, heads, dim_head, mlp_dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList([nn.ModuleList([VPAttention(dim, heads, dim_head), VPFeedForward(dim, mlp_dim)])
                                     for _ in range(depth)])

    def forward(self, x):
        for attention, feedforward in self.layers:
            x = attention(x) + x
            x = feedforward(x) + x
        return self.norm(x)


class VPViT(nn.Module):
    """vit-pytorch's ViT (vit_pytorch/vit.py) as documented: pool="mean" has no class token."""

    def __init__(self, image_size=16, patch_size=4, num_classes=5, dim=32, depth=2, heads=4, mlp_dim=64, pool="cls",
                 channels=3, dim_head=8):
        super().__init__()
        self.patch_size, self.pool = (patch_size, patch_size), pool
        patch_dim, n, cls = channels * patch_size**2, (image_size // patch_size) ** 2, int(pool == "cls")
        self.to_patch_embedding = nn.Sequential(
            Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size),
            nn.LayerNorm(patch_dim), nn.Linear(patch_dim, dim), nn.LayerNorm(dim))
        self.cls_token = nn.Parameter(torch.randn(cls, dim))
        self.pos_embedding = nn.Parameter(torch.randn(n + cls, dim))
        self.transformer = VPTransformer(dim, depth, heads, dim_head, mlp_dim)
        self.mlp_head = nn.Linear(dim, num_classes) if num_classes > 0 else None

    def forward(self, images):
        x = self.to_patch_embedding(images)
        x = torch.cat([repeat(self.cls_token, "... d -> b ... d", b=len(x)), x], dim=1)
        x = self.transformer(x + self.pos_embedding[: x.shape[1]])
        if self.mlp_head is None:
            return x
        return self.mlp_head(x.mean(dim=1) if self.pool == "mean" else x[:, 0])


VP_CASES = {
    "cls": dict(),
    "mean-no-class-token": dict(pool="mean"),
    "one-head-as-wide-as-D": dict(heads=1, dim_head=32),
    "1-channel-p2": dict(channels=1, patch_size=2),
}


@pytest.mark.parametrize("name", list(VP_CASES))
def test_from_vit_pytorch_model(name):
    kw = VP_CASES[name]
    source = randomise(VPViT(**kw), seed=6)
    ours = from_vit_pytorch(source)
    assert (ours.cfg.class_token, ours.cfg.patch_embed_norm, ours.cfg.qkv_bias, ours.cfg.norm_eps) == (
        kw.get("pool", "cls") == "cls", True, False, 1e-5)
    assert_same_logits(ours, source, torch.randn(3, kw.get("channels", 3), 16, 16))


def test_from_vit_pytorch_state_dict_and_features():
    source = randomise(VPViT(pool="mean"), seed=7)
    assert_same_logits(from_vit_pytorch(source.state_dict(), heads=4), source, torch.randn(2, 3, 16, 16))
    features = randomise(VPViT(num_classes=0), seed=8)  # vit-pytorch returns all tokens; vitlib the pooled y
    images = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(from_vit_pytorch(features).eval()(images), features(images)[:, 0], atol=1e-4)


def test_from_vit_pytorch_refusals():
    with pytest.raises(ValueError, match=r"'transformer\.layers\.0\.0\.to_qkv\.weight' has shape \(192, 32\): "
                                         r"attention "
                                         r"of width heads x dim_head = 4 x 16 = 64, but dim = 32.*dim_head = dim // "
                                         r"heads"):
        from_vit_pytorch(VPViT(dim_head=16))
    with pytest.raises(ValueError, match="match no preset; pass heads="):
        from_vit_pytorch(VPViT().state_dict())
    with pytest.raises(ValueError, match="heads=2 contradicts the checkpoint, which has heads=4"):
        from_vit_pytorch(VPViT(), heads=2)
    sd = VPViT().state_dict()
    with pytest.raises(ValueError, match=r"^vit-pytorch state dict: missing 'transformer\.layers\.1\.1\.net\.4\.bias'"):
        from_vit_pytorch({k: v for k, v in sd.items() if k != "transformer.layers.1.1.net.4.bias"}, heads=4)
    old = {**sd, "cls_token": torch.zeros(1, 1, 32), "pos_embedding": torch.zeros(1, 17, 32)}
    with pytest.raises(ValueError, match="older vit-pytorch versions, whose pool='mean' averages the class token"):
        from_vit_pytorch(old, heads=4)
    assert from_vit_pytorch(old, heads=4, pool="cls").cfg.class_token


# ----------------------------------------------------------------------------- Google .npz



def jax_forward(a, images):
    """vit_jax's forward in NumPy (models_vit.py): the encoder ends with encoder_norm; then the class
    token ('token') or the mean over all tokens ('gap', no class token); tanh GELU; eps 1e-6."""
    x = np.transpose(images, (0, 2, 3, 1))  # NHWC
    kern = a["embedding/kernel"]
    p = kern.shape[0]
    n, hh, ww, c = x.shape
    patches = x.reshape(n, hh // p, p, ww // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    z = (np.einsum("nijabc,abcd->nijd", patches, kern) + a["embedding/bias"]).reshape(n, -1, kern.shape[-1])
    if "cls" in a:
        z = np.concatenate([np.repeat(a["cls"], n, 0), z], 1)
    z = z + a["Transformer/posembed_input/pos_embedding"]

    def ln(v, pre):
        normed = (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-6)
        return normed * a[f"{pre}/scale"] + a[f"{pre}/bias"]

    i = 0
    while f"Transformer/encoderblock_{i}/LayerNorm_0/scale" in a:
        b, m = f"Transformer/encoderblock_{i}", f"Transformer/encoderblock_{i}/MultiHeadDotProductAttention_1"
        y = ln(z, f"{b}/LayerNorm_0")
        q, k, v = (np.einsum("ntd,dhk->nthk", y, a[f"{m}/{s}/kernel"]) + a[f"{m}/{s}/bias"]
                   for s in ("query", "key", "value"))
        s = np.einsum("nqhk,nthk->nhqt", q, k) / np.sqrt(q.shape[-1])
        w = np.exp(s - s.max(-1, keepdims=True))
        o = np.einsum("nhqt,nthk->nqhk", w / w.sum(-1, keepdims=True), v)
        z = z + np.einsum("nqhk,hkd->nqd", o, a[f"{m}/out/kernel"]) + a[f"{m}/out/bias"]
        y = ln(z, f"{b}/LayerNorm_2") @ a[f"{b}/MlpBlock_3/Dense_0/kernel"] + a[f"{b}/MlpBlock_3/Dense_0/bias"]
        y = 0.5 * y * (1 + np.tanh(np.sqrt(2 / np.pi) * (y + 0.044715 * y**3)))
        z = z + y @ a[f"{b}/MlpBlock_3/Dense_1/kernel"] + a[f"{b}/MlpBlock_3/Dense_1/bias"]
        i += 1
    z = ln(z, "Transformer/encoder_norm")
    y = z[:, 0] if "cls" in a else z.mean(1)
    return y @ a["head/kernel"] + a["head/bias"]


def npz_logits(model, images):
    with torch.no_grad():
        return model.eval()(torch.from_numpy(images)).numpy()


@pytest.mark.parametrize("gap", [False, True])
def test_from_google_npz_token_and_gap(tmp_path, gap):
    rng = np.random.default_rng(1)
    arrays = google_arrays(rng, gap=gap)
    np.savez(tmp_path / "vit.npz", **arrays)
    model = from_google_npz(tmp_path / "vit.npz")
    assert (model.cfg.class_token, model.cfg.pool) == ((False, "mean") if gap else (True, "cls"))
    images = rng.normal(size=(2, 3, 12, 12)).astype(np.float32)
    assert np.abs(npz_logits(model, images) - jax_forward(arrays, images)).max() <= 1e-4


def test_from_google_npz_opt_target_prefix(tmp_path):
    rng = np.random.default_rng(2)
    arrays = google_arrays(rng)
    saved = {f"opt/target/{k}": v for k, v in arrays.items()}
    saved["opt/state/step"] = np.array(100, dtype=np.float32)  # the optimizer's own state: not the model
    np.savez(tmp_path / "with_optimizer.npz", **saved)
    images = rng.normal(size=(2, 3, 12, 12)).astype(np.float32)
    model = from_google_npz(tmp_path / "with_optimizer.npz")
    assert np.abs(npz_logits(model, images) - jax_forward(arrays, images)).max() <= 1e-4


def test_from_google_npz_refusals(tmp_path):
    rng = np.random.default_rng(3)
    arrays = google_arrays(rng)
    # 1x1 patches of the ResNet's features
    hybrid = {**arrays, "embedding/kernel": np.zeros((1, 1, 64, 24), np.float32),
              "conv_root/kernel": np.zeros((7, 7, 3, 64), np.float32), "gn_root/scale": np.ones(64, np.float32),
              "block1/unit1/conv1/kernel": np.zeros((1, 1, 64, 64), np.float32)}
    with pytest.raises(ValueError, match=r"^Google \.npz: unexpected groups 'block1', 'conv_root', 'gn_root' "
                                         r"\(an R50\+ViT hybrid checkpoint"):
        from_google_npz(hybrid)
    scale = "Transformer/encoderblock_0/LayerScale_0/scale"
    with pytest.raises(ValueError, match=r"unexpected groups 'Transformer/encoderblock_0/LayerScale_0' "
                                         r"\(LayerScale: not supported\)"):
        from_google_npz({**arrays, scale: np.ones(24, np.float32)})
    missing = "Transformer/encoderblock_1/LayerNorm_2/scale"
    with pytest.raises(ValueError, match=rf"^Google \.npz: missing '{missing}'\. "):
        from_google_npz({k: v for k, v in arrays.items() if k != missing})
    query = "Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel"
    with pytest.raises(ValueError, match=rf"'{query}' has shape \(24, 24\), expected \(D, heads, D / heads\)"):
        from_google_npz({**arrays, query: arrays[query].reshape(24, 24)})
    with pytest.raises(ValueError, match="heads=4 contradicts the checkpoint, which has heads=3"):
        from_google_npz(arrays, heads=4)
    text = tmp_path / "notes.npz"
    text.write_text("not an npz")
    with pytest.raises(ValueError, match=r"notes\.npz is not an \.npz file \(an \.npz is a zip archive"):
        from_google_npz(text)
    torch_file = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, torch_file)  # a zip archive, but of a pickle, not of arrays
    with pytest.raises(ValueError, match=r"model\.pt is a zip archive but not an \.npz of arrays: 'model/data\.pkl'"):
        from_google_npz(torch_file)
    with pytest.raises(FileNotFoundError, match="no file at"):
        from_google_npz(tmp_path / "missing.npz")


# ----------------------------------------------------------------------------- every converter, every key

def test_any_one_missing_tensor_is_a_value_error_never_a_key_error():
    """Take away each tensor in turn: every converter answers with a ValueError (never KeyError/RuntimeError)."""
    cases = [(from_timm, TimmViT().state_dict(), {"heads": 4}), (from_timm, TimmViT(global_pool="avg").state_dict(),
             {"heads": 4}), (from_vit_pytorch, VPViT().state_dict(), {"heads": 4}),
             (from_google_npz, google_arrays(np.random.default_rng(4)), {})]
    for convert, state, kwargs in cases:
        convert(state, **kwargs)  # whole, it loads
        for key in state:
            with pytest.raises(ValueError):
                convert({k: v for k, v in state.items() if k != key}, **kwargs)


# ----------------------------------------------------------------------------- Hugging Face: bad inputs

def test_from_hf_refusals_name_the_source_keys():
    transformers = pytest.importorskip("transformers")
    from vitlib.converters import from_hf

    config = transformers.ViTConfig(image_size=16, patch_size=4, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=4, intermediate_size=64, num_labels=3)
    hf = transformers.ViTForImageClassification(config).eval()
    hub = {  # the hub's layout, as save_pretrained writes it
        k.replace("vit.layers.", "vit.encoder.layer.").replace(".attention.q_proj.", ".attention.attention.query.")
         .replace(".attention.k_proj.", ".attention.attention.key.")
         .replace(".attention.v_proj.", ".attention.attention.value.")
         .replace(".attention.o_proj.", ".attention.output.dense.").replace(".mlp.fc1.", ".intermediate.dense.")
         .replace(".mlp.fc2.", ".output.dense."): v for k, v in hf.state_dict().items()}
    from_hf(hub, config)  # whole, it loads
    query_bias = "vit.encoder.layer.1.attention.attention.query.bias"
    with pytest.raises(ValueError, match=rf"^Hugging Face state dict: missing '{query_bias}'\. "):
        from_hf({k: v for k, v in hub.items() if k != query_bias}, config)
    with pytest.raises(ValueError, match=r"^Hugging Face config: missing 'hidden_size'"):
        from_hf(hub, {k: v for k, v in config.to_dict().items() if k != "hidden_size"})
    with pytest.raises(ValueError, match=r"'vit\.embeddings\.position_embeddings' \(1, 17, 32\) cannot make vitlib's "
                                         r"pos_embed\.pos_embed \(1, 37, 32\)"):
        from_hf(hub, {**config.to_dict(), "image_size": 24})
    with pytest.raises(ValueError, match=r"missing 'embeddings\.patch_embeddings\.projection\.weight'; these are timm "
                                         r"names: use from_timm"):
        from_hf(TimmViT().state_dict(), config)
    for key in hub:  # any one tensor taken away: a ValueError
        with pytest.raises(ValueError):
            from_hf({k: v for k, v in hub.items() if k != key}, config)
