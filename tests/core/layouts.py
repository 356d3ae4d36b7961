"""Checkpoint layouts of other implementations, built by the tests (none of them is imported here)."""

import numpy as np


def google_arrays(rng, p=4, c=3, d=24, h=3, mlp=48, depth=2, grid=3, k=6, gap=False, pre_logits=None):
    """Random arrays in vit_jax's layout (google-research/vision_transformer, checkpoint.py), not derived
    from a vitlib model. gap=True: classifier='gap' (no 'cls', one position per patch); pre_logits: the
    width of the optional pre-logits layer before the head."""
    r = lambda *s: rng.normal(0, 0.3, s).astype(np.float32)  # noqa: E731
    a = {"embedding/kernel": r(p, p, c, d), "embedding/bias": r(d),
         "Transformer/posembed_input/pos_embedding": r(1, (0 if gap else 1) + grid * grid, d),
         "Transformer/encoder_norm/scale": 1 + r(d), "Transformer/encoder_norm/bias": r(d)}
    if not gap:
        a["cls"] = r(1, 1, d)
    for i in range(depth):
        b = f"Transformer/encoderblock_{i}"
        for ln in ("LayerNorm_0", "LayerNorm_2"):
            a[f"{b}/{ln}/scale"], a[f"{b}/{ln}/bias"] = 1 + r(d), r(d)
        for n in ("query", "key", "value"):
            a[f"{b}/MultiHeadDotProductAttention_1/{n}/kernel"] = r(d, h, d // h)
            a[f"{b}/MultiHeadDotProductAttention_1/{n}/bias"] = r(h, d // h)
        a[f"{b}/MultiHeadDotProductAttention_1/out/kernel"] = r(h, d // h, d)
        a[f"{b}/MultiHeadDotProductAttention_1/out/bias"] = r(d)
        a[f"{b}/MlpBlock_3/Dense_0/kernel"], a[f"{b}/MlpBlock_3/Dense_0/bias"] = r(d, mlp), r(mlp)
        a[f"{b}/MlpBlock_3/Dense_1/kernel"], a[f"{b}/MlpBlock_3/Dense_1/bias"] = r(mlp, d), r(d)
    if pre_logits:
        a["pre_logits/kernel"], a["pre_logits/bias"] = r(d, pre_logits), r(pre_logits)
    a["head/kernel"], a["head/bias"] = r(pre_logits or d, k), r(k)
    return a
