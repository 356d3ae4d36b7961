"""Typical wrong answers to notebook 01's exercises (see README.md here)."""

WRONG_ANSWERS = [
    dict(exercise="my_patchify", says="flattened in the order (c p1 p2)", code='''
from einops import rearrange


def my_patchify(images, patch_size):
    return rearrange(images, "b c (h p1) (w p2) -> b (h w) (c p1 p2)", p1=patch_size, p2=patch_size)
'''),
    dict(exercise="my_patchify", says="the patches are in column order (w h)", code='''
from einops import rearrange


def my_patchify(images, patch_size):
    return rearrange(images, "b c (h p1) (w p2) -> b (w h) (p1 p2 c)", p1=patch_size, p2=patch_size)
'''),
    dict(exercise="my_patchify", says="the axes are swapped", code='''
from einops import rearrange


def my_patchify(images, patch_size):
    patches = rearrange(images, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size)
    return patches.transpose(1, 2)
'''),
    dict(exercise="my_patchify", says="every value is multiplied by", code='''
from einops import rearrange


def my_patchify(images, patch_size):
    return rearrange(images * 255, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size)
'''),
    dict(exercise="my_patchify", says="the right pixels, but in a different arrangement", code='''
def my_patchify(images, patch_size):
    b, c, h, w = images.shape
    return images.reshape(b, (h // patch_size) * (w // patch_size), patch_size * patch_size * c)
'''),
    dict(exercise="conv_weight_to_E", says="the rows are in (c p1 p2) order (what weight.reshape(D, -1).T gives)",
         code='''
def conv_weight_to_E(weight):
    return weight.reshape(weight.shape[0], -1).T
'''),
    dict(exercise="conv_weight_to_E", says="= (D, P*P*C): transpose it", code='''
def conv_weight_to_E(weight):
    return rearrange(weight, "d c p1 p2 -> d (p1 p2 c)")
'''),
    dict(exercise="conv_weight_to_E", says="the rows are in (p2 p1 c) order", code='''
def conv_weight_to_E(weight):
    return rearrange(weight, "d c p1 p2 -> (p2 p1 c) d")
'''),
]
