"""Typical wrong answers to notebook 06's exercises (see README.md here)."""

# head_distance written out once; each wrong answer below changes one part of it
_DISTANCE = '''
from vitlib.probes import patch_distances


def head_distance(attn_head, patch_size):
    weights = attn_head[1:, 1:]
    weights = {renormalise}
    side = int(round(weights.shape[0] ** 0.5))
    per_query = (weights * patch_distances(side, patch_size){unit}).sum(dim=-1)
    return per_query.{reduce}()
'''
_RIGHT = dict(renormalise="weights / weights.sum(dim=-1, keepdim=True)", unit="", reduce="mean")


def _distance(**change):
    return _DISTANCE.format(**{**_RIGHT, **change})


WRONG_ANSWERS = [
    dict(exercise="patch_attention", says="did not renormalise", code='''
def patch_attention(attn):
    return attn[:, :, 1:, 1:]
'''),
    dict(exercise="patch_attention", says="you renormalised the columns", code='''
def patch_attention(attn):
    patches = attn[:, :, 1:, 1:]
    return patches / patches.sum(dim=-2, keepdim=True)
'''),
    dict(exercise="patch_attention", says="you dropped the last token", code='''
def patch_attention(attn):
    patches = attn[:, :, :-1, :-1]
    return patches / patches.sum(dim=-1, keepdim=True)
'''),
    dict(exercise="patch_attention", says="kept the [class] query row", code='''
def patch_attention(attn):
    patches = attn[:, :, :, 1:]
    return patches / patches.sum(dim=-1, keepdim=True)
'''),
    dict(exercise="head_distance", says="you did not renormalise", code=_distance(renormalise="weights")),
    dict(exercise="head_distance", says="your distance is in patches", code=_distance(unit=" / patch_size")),
    dict(exercise="head_distance", says="you took the largest per-query distance", code=_distance(reduce="max")),
    dict(exercise="head_distance", says="you summed over the queries", code=_distance(reduce="sum")),
]
