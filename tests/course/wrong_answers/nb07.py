"""Typical wrong answers to notebook 07's exercise (see README.md here)."""

WRONG_ANSWERS = [
    dict(exercise="resize_pos", says="the [class] token's row is missing", code='''
from einops import rearrange


def resize_pos(pos_embed, new_grid):
    patches = pos_embed[:, 1:]
    side = int(round(patches.shape[1] ** 0.5))
    grid = rearrange(patches, "1 (g h) d -> 1 d g h", g=side)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bilinear", align_corners=True)
    return rearrange(grid, "1 d g h -> 1 (g h) d")
'''),
    dict(exercise="resize_pos", says="the [class] token's row is at the end", code='''
from einops import rearrange


def resize_pos(pos_embed, new_grid):
    cls_row, patches = pos_embed[:, :1], pos_embed[:, 1:]
    side = int(round(patches.shape[1] ** 0.5))
    grid = rearrange(patches, "1 (g h) d -> 1 d g h", g=side)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bilinear", align_corners=True)
    return torch.cat([rearrange(grid, "1 d g h -> 1 (g h) d"), cls_row], dim=1)
'''),
    dict(exercise="resize_pos", says="you reshaped (1, G*G, D) straight to (1, D, G, G)", code='''
from einops import rearrange


def resize_pos(pos_embed, new_grid):
    cls_row, patches = pos_embed[:, :1], pos_embed[:, 1:]
    side = int(round(patches.shape[1] ** 0.5))
    grid = patches.reshape(1, -1, side, side)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bilinear", align_corners=True)
    return torch.cat([cls_row, rearrange(grid, "1 d g h -> 1 (g h) d")], dim=1)
'''),
    dict(exercise="resize_pos", says="align_corners=False", code='''
from einops import rearrange


def resize_pos(pos_embed, new_grid):
    cls_row, patches = pos_embed[:, :1], pos_embed[:, 1:]
    side = int(round(patches.shape[1] ** 0.5))
    grid = rearrange(patches, "1 (g h) d -> 1 d g h", g=side)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bilinear", align_corners=False)
    return torch.cat([cls_row, rearrange(grid, "1 d g h -> 1 (g h) d")], dim=1)
'''),
    dict(exercise="resize_pos", says="interpolated as one 1D signal", code='''
from einops import rearrange


def resize_pos(pos_embed, new_grid):
    line = rearrange(pos_embed, "1 t d -> 1 d t")
    line = F.interpolate(line, size=1 + new_grid * new_grid, mode="linear", align_corners=True)
    return rearrange(line, "1 d t -> 1 t d")
'''),
]
