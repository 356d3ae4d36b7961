"""Typical wrong answers to notebook 03's exercises (see README.md here)."""

WRONG_ANSWERS = [
    dict(exercise="attention", says="the 1/sqrt(D_h) scale is missing", code='''
def attention(q, k, v):
    weights = (q @ k.transpose(-2, -1)).softmax(dim=-1)
    return weights @ v, weights
'''),
    dict(exercise="attention", says="you divided the scores by D_h", code='''
def attention(q, k, v):
    weights = (q @ k.transpose(-2, -1) / q.shape[-1]).softmax(dim=-1)
    return weights @ v, weights
'''),
    dict(exercise="attention", says="softmax over the wrong axis: your columns sum to 1", code='''
def attention(q, k, v):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-2)
    return weights @ v, weights
'''),
    dict(exercise="attention", says="you returned (weights, out)", code='''
def attention(q, k, v):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)
    return weights, weights @ v
'''),
    dict(exercise="split_heads", says="heads must come before tokens", code='''
def split_heads(x, heads):
    return rearrange(x, "b t (h d) -> b t h d", h=heads)
'''),
    dict(exercise="split_heads", says="you interleaved the channels", code='''
def split_heads(x, heads):
    return rearrange(x, "b t (d h) -> b h t d", h=heads)
'''),
    dict(exercise="split_heads", says="without moving an axis", code='''
def split_heads(x, heads):
    b, t, d = x.shape
    return x.reshape(b, heads, t, d // heads)
'''),
    dict(exercise="split_heads", says="pass h=heads (the number of heads), not d=heads", code='''
def split_heads(x, heads):
    return rearrange(x, "b t (h d) -> b h t d", d=heads)
'''),
]
