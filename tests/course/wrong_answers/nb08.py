"""Typical wrong answers to notebook 08's exercise (see README.md here)."""

WRONG_ANSWERS = [
    dict(exercise="feature_map_to_tokens", says="the tokens are in column order", code='''
def feature_map_to_tokens(features, proj):
    return proj(rearrange(features, "b c h w -> b (w h) c"))
'''),
    dict(exercise="feature_map_to_tokens", says="without moving the channel axis", code='''
def feature_map_to_tokens(features, proj):
    b, c, h, w = features.shape
    return proj(features.reshape(b, h * w, c))
'''),
    dict(exercise="feature_map_to_tokens", says="right tokens, but not projected", code='''
def feature_map_to_tokens(features, proj):
    return rearrange(features, "b c h w -> b (h w) c")
'''),
    dict(exercise="feature_map_to_tokens", says="the tokens are (B, D, N)", code='''
def feature_map_to_tokens(features, proj):
    return proj(rearrange(features, "b c h w -> b (h w) c")).transpose(1, 2)
'''),
]
