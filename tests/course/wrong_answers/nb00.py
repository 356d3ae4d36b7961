"""Typical wrong answers to notebook 00's exercise (see README.md here)."""

WRONG_ANSWERS = [
    dict(exercise="num_patches", says="the number of patches along one side", code='''
def num_patches(image_size, patch_size):
    return image_size // patch_size
'''),
    dict(exercise="num_patches", says="counts the [class] token too", code='''
def num_patches(image_size, patch_size):
    return (image_size // patch_size) ** 2 + 1
'''),
    dict(exercise="num_patches", says="you divided by P once", code='''
def num_patches(image_size, patch_size):
    return image_size * image_size // patch_size
'''),
    dict(exercise="num_patches", says="use integer division (//)", code='''
def num_patches(image_size, patch_size):
    return (image_size / patch_size) ** 2
'''),
]
