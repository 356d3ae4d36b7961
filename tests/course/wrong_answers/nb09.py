"""Typical wrong answers to notebook 09's exercise (see README.md here)."""

# my_patch_targets written out once; each wrong answer below changes one line of it
_TARGETS = '''
from einops import reduce


def my_patch_targets(images, patch_size, bits):
    means = reduce(images, "b c (h p1) (w p2) -> {order}", "mean", p1=patch_size, p2=patch_size)
    levels = {levels}
    place = (2 ** bits) ** torch.arange(images.shape[1])
    return {combined}
'''
_RIGHT = dict(order="b (h w) c", levels="(means * 2 ** bits).floor().clamp(max=2 ** bits - 1).long()",
              combined="(levels * place).sum(dim=-1)")


def _targets(**change):
    return _TARGETS.format(**{**_RIGHT, **change})


WRONG_ANSWERS = [
    dict(exercise="my_patch_targets", says="clamp the levels",
         code=_targets(levels="(means * 2 ** bits).floor().long()")),
    dict(exercise="my_patch_targets", says="round() moves",
         code=_targets(levels="(means * 2 ** bits).round().clamp(max=2 ** bits - 1).long()")),
    dict(exercise="my_patch_targets", says="scales to 0..7 and rounds",
         code=_targets(levels="(means * (2 ** bits - 1)).round().long()")),
    dict(exercise="my_patch_targets", says="column order", code=_targets(order="b (w h) c")),
    dict(exercise="my_patch_targets", says="places are reversed",
         code=_targets(combined="(levels.flip(-1) * place).sum(dim=-1)")),
    dict(exercise="my_patch_targets", says="are added, not combined", code=_targets(combined="levels.sum(dim=-1)")),
    dict(exercise="my_patch_targets", says="combine the channels", code=_targets(combined="levels")),
    dict(exercise="my_patch_targets", says="first test", code=_TARGETS.format(
        order="b (h w) c", levels="(means * 8).floor().clamp(max=7).long()",
        combined="(levels * 8 ** torch.arange(images.shape[1])).sum(dim=-1)")),
]
