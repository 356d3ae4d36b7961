"""Typical wrong answers to notebook 04's exercises (see README.md here)."""

# vit_forward written out once; each wrong answer below changes one line of it
_FORWARD = '''
def vit_forward(images, params):
    p, heads = params["patch_size"], params["heads"]
    x = rearrange(images, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)
    x = x @ params["E"] + params["E_bias"]
    z = torch.cat([params["x_class"].expand(len(x), 1, -1), x], dim=1){add_pos}
    z0 = z
    for layer in params["layers"]:
        n = F.layer_norm(z, z.shape[-1:], layer["ln1_gain"], layer["ln1_bias"], eps=1e-6)
        q, k, v = rearrange(n @ layer["W_qkv"] + layer["b_qkv"], "b t (three h d) -> three b h t d", three=3, h=heads)
        a = (q @ k.transpose(-2, -1){scale}).softmax(dim=-1)
        z = z + rearrange(a @ v, "b h t d -> b t (h d)") @ layer["U_msa"] + layer["b_msa"]
        n = F.layer_norm(z, z.shape[-1:], layer["ln2_gain"], layer["ln2_bias"], eps=1e-6)
        z = z + F.gelu(n @ layer["W_fc1"] + layer["b_fc1"]) @ layer["W_fc2"] + layer["b_fc2"]
    y = {read_out}
    return z0, z, y, y @ params["W_head"] + params["b_head"]
'''
_RIGHT = dict(add_pos=' + params["E_pos"]', scale=" / q.shape[-1] ** 0.5",
              read_out='F.layer_norm(z[:, 0], z.shape[-1:], params["ln_gain"], params["ln_bias"], eps=1e-6)')


def _forward(**change):
    return _FORWARD.format(**{**_RIGHT, **change})


WRONG_ANSWERS = [
    dict(exercise="block_forward", says="this is post-norm", code='''
def block_forward(z, norm1, attn, norm2, mlp):
    z = norm1(z + attn(z))
    return norm2(z + mlp(z))
'''),
    dict(exercise="block_forward", says="both residual connections are missing", code='''
def block_forward(z, norm1, attn, norm2, mlp):
    z = attn(norm1(z))
    return mlp(norm2(z))
'''),
    dict(exercise="block_forward", says="the MLP must see z'", code='''
def block_forward(z, norm1, attn, norm2, mlp):
    return z + attn(norm1(z)) + mlp(norm2(z))
'''),
    dict(exercise="block_forward", says="the two LayerNorms are swapped", code='''
def block_forward(z, norm1, attn, norm2, mlp):
    z = z + attn(norm2(z))
    return z + mlp(norm1(z))
'''),
    dict(exercise="count_vit_params", says="forgot the class token (D)", code='''
def count_vit_params(image_size, patch_size, in_channels, dim, depth, mlp_dim, num_classes):
    n = (image_size // patch_size) ** 2
    block = 4 * dim + 3 * dim * dim + 3 * dim + dim * dim + dim + 2 * dim * mlp_dim + mlp_dim + dim
    return (patch_size**2 * in_channels * dim + dim + (n + 1) * dim + depth * block + 2 * dim
            + dim * num_classes + num_classes)
'''),
    dict(exercise="count_vit_params", says="the two LayerNorms in every block (4D per block)", code='''
def count_vit_params(image_size, patch_size, in_channels, dim, depth, mlp_dim, num_classes):
    n = (image_size // patch_size) ** 2
    block = 3 * dim * dim + 3 * dim + dim * dim + dim + 2 * dim * mlp_dim + mlp_dim + dim
    return (patch_size**2 * in_channels * dim + dim + dim + (n + 1) * dim + depth * block + 2 * dim
            + dim * num_classes + num_classes)
'''),
    dict(exercise="count_vit_params", says="the head's bias (K)", code='''
def count_vit_params(image_size, patch_size, in_channels, dim, depth, mlp_dim, num_classes):
    n = (image_size // patch_size) ** 2
    block = 4 * dim + 3 * dim * dim + 3 * dim + dim * dim + dim + 2 * dim * mlp_dim + mlp_dim + dim
    return patch_size**2 * in_channels * dim + dim + dim + (n + 1) * dim + depth * block + 2 * dim + dim * num_classes
'''),
    dict(exercise="count_vit_params", says="the position embeddings E_pos ((N + 1) x D)", code='''
def count_vit_params(image_size, patch_size, in_channels, dim, depth, mlp_dim, num_classes):
    block = 4 * dim + 3 * dim * dim + 3 * dim + dim * dim + dim + 2 * dim * mlp_dim + mlp_dim + dim
    return patch_size**2 * in_channels * dim + dim + dim + depth * block + 2 * dim + dim * num_classes + num_classes
'''),
    dict(exercise="vit_forward", says="E_pos is missing", code=_forward(add_pos="")),
    dict(exercise="vit_forward", says="the attention scores lack the scale 1/sqrt(D_h)", code=_forward(scale="")),
    dict(exercise="vit_forward", says="not 1/sqrt(D)", code=_forward(scale=" / z.shape[-1] ** 0.5")),
    dict(exercise="vit_forward", says="y is the class token after one more LayerNorm",
         code=_forward(read_out="z[:, 0]")),
    dict(exercise="vit_forward", says="not the mean of all tokens", code=_forward(
        read_out='F.layer_norm(z.mean(dim=1), z.shape[-1:], params["ln_gain"], params["ln_bias"], eps=1e-6)')),
]
