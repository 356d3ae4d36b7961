"""Typical wrong answers to notebook 07's exercise (see README.md here)."""

# resize_pos written out once; most wrong answers below change one line of it
_RESIZE = '''
from einops import rearrange


def resize_pos(pos_embed, new_grid):
    cls_row, patches = pos_embed[:, :1], pos_embed[:, 1:]
    side = int(round(patches.shape[1] ** 0.5))
    grid = {to_grid}
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bilinear", align_corners={align})
    patches = rearrange(grid, "1 d g h -> 1 (g h) d")
    return {joined}
'''
_RIGHT = dict(to_grid='rearrange(patches, "1 (g h) d -> 1 d g h", g=side)', align="True",
              joined="torch.cat([cls_row, patches], dim=1)")


def _resize(**change):
    return _RESIZE.format(**{**_RIGHT, **change})


WRONG_ANSWERS = [
    dict(exercise="resize_pos", says="the [class] token's row is missing", code=_resize(joined="patches")),
    dict(exercise="resize_pos", says="the [class] token's row is at the end",
         code=_resize(joined="torch.cat([patches, cls_row], dim=1)")),
    dict(exercise="resize_pos", says="you reshaped (1, G*G, D) straight to (1, D, G, G)",
         code=_resize(to_grid="patches.reshape(1, -1, side, side)")),
    dict(exercise="resize_pos", says="align_corners=False", code=_resize(align="False")),
    dict(exercise="resize_pos", says="interpolated as one 1D signal", code='''
from einops import rearrange


def resize_pos(pos_embed, new_grid):
    line = rearrange(pos_embed, "1 t d -> 1 d t")
    line = F.interpolate(line, size=1 + new_grid * new_grid, mode="linear", align_corners=True)
    return rearrange(line, "1 d t -> 1 t d")
'''),
]
