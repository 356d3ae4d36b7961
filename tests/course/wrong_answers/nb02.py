"""Typical wrong answers to notebook 02's exercises (see README.md here)."""

WRONG_ANSWERS = [
    dict(exercise="embed_tokens", says="the [class] token is missing", code='''
def embed_tokens(x, cls, pos):
    return x + pos[:, 1:]
'''),
    dict(exercise="embed_tokens", says="the [class] token is at the end; it goes first", code='''
def embed_tokens(x, cls, pos):
    return torch.cat([x, cls.expand(x.shape[0], -1, -1)], dim=1) + pos
'''),
    dict(exercise="embed_tokens", says="the position embeddings are missing", code='''
def embed_tokens(x, cls, pos):
    return torch.cat([cls.expand(x.shape[0], -1, -1), x], dim=1)
'''),
    dict(exercise="embed_tokens", says="did not get its own position embedding", code='''
def embed_tokens(x, cls, pos):
    return torch.cat([cls.expand(x.shape[0], -1, -1), x + pos[:, 1:]], dim=1)
'''),
    dict(exercise="pos_similarity", says="raw dot products, not cosine similarities", code='''
def pos_similarity(pos):
    e = pos[0, 1:]
    g = int(e.shape[0] ** 0.5)
    return rearrange(e @ e.T, "(i j) (k l) -> i j k l", i=g, k=g)
'''),
    dict(exercise="pos_similarity", says="the [class] token's row is included", code='''
def pos_similarity(pos):
    e = F.normalize(pos[0], dim=-1)
    return e @ e.T
'''),
    dict(exercise="pos_similarity", says="right numbers; now reshape to (G, G, G, G)", code='''
def pos_similarity(pos):
    e = F.normalize(pos[0, 1:], dim=-1)
    return e @ e.T
'''),
    dict(exercise="pos_similarity", says="normalised along the wrong axis", code='''
def pos_similarity(pos):
    e = F.normalize(pos[0, 1:], dim=0)
    g = int(e.shape[0] ** 0.5)
    return rearrange(e @ e.T, "(i j) (k l) -> i j k l", i=g, k=g)
'''),
]
