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


def google_forward(a, images):
    """The vit_jax forward pass in NumPy, read off models_vit.py: NHWC conv, flax einsums, tanh GELU."""
    x = np.transpose(images, (0, 2, 3, 1))  # NHWC, as in JAX
    kern = a["embedding/kernel"]
    p = kern.shape[0]
    n, hh, ww, c = x.shape
    patches = x.reshape(n, hh // p, p, ww // p, p, c).transpose(0, 1, 3, 2, 4, 5)  # (n, gh, gw, p, p, c)
    z = np.einsum("nijabc,abcd->nijd", patches, kern) + a["embedding/bias"]
    z = z.reshape(n, -1, z.shape[-1])
    z = np.concatenate([np.repeat(a["cls"], n, 0), z], 1) + a["Transformer/posembed_input/pos_embedding"]

    def ln(v, pre):
        mu, var = v.mean(-1, keepdims=True), v.var(-1, keepdims=True)
        return (v - mu) / np.sqrt(var + 1e-6) * a[f"{pre}/scale"] + a[f"{pre}/bias"]

    def gelu(v):
        return 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v**3)))

    i = 0
    while f"Transformer/encoderblock_{i}/LayerNorm_0/scale" in a:
        b = f"Transformer/encoderblock_{i}"
        m = f"{b}/MultiHeadDotProductAttention_1"
        y = ln(z, f"{b}/LayerNorm_0")
        q, k, v = (np.einsum("ntd,dhk->nthk", y, a[f"{m}/{s}/kernel"]) + a[f"{m}/{s}/bias"]
                   for s in ("query", "key", "value"))
        s = np.einsum("nqhk,nthk->nhqt", q, k) / np.sqrt(q.shape[-1])
        w = np.exp(s - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        o = np.einsum("nhqt,nthk->nqhk", w, v)
        z = z + np.einsum("nqhk,hkd->nqd", o, a[f"{m}/out/kernel"]) + a[f"{m}/out/bias"]
        y = ln(z, f"{b}/LayerNorm_2")
        y = gelu(y @ a[f"{b}/MlpBlock_3/Dense_0/kernel"] + a[f"{b}/MlpBlock_3/Dense_0/bias"])
        z = z + y @ a[f"{b}/MlpBlock_3/Dense_1/kernel"] + a[f"{b}/MlpBlock_3/Dense_1/bias"]
        i += 1
    y = ln(z, "Transformer/encoder_norm")[:, 0]
    if "pre_logits/kernel" in a:
        y = np.tanh(y @ a["pre_logits/kernel"] + a["pre_logits/bias"])
    return y @ a["head/kernel"] + a["head/bias"]
