"""Typical wrong answers to notebook 05's exercise (see README.md here)."""

# lr_schedule written out once; each wrong answer below changes one part of it
_SCHEDULE = '''
def lr_schedule(step, total_steps, lr, warmup_steps, final_lr_fraction):
    if step < warmup_steps:
        return lr * {warmup} / warmup_steps
    t = min((step - warmup_steps) / max({decay_steps}, 1), 1.0)
    f = {floor}
    return lr * (f + (1 - f) * {shape})
'''
_RIGHT = dict(warmup="(step + 1)", decay_steps="total_steps - warmup_steps - 1", floor="final_lr_fraction",
              shape="(1 + math.cos(math.pi * t)) / 2")


def _schedule(**change):
    return "import math\n" + _SCHEDULE.format(**{**_RIGHT, **change})


WRONG_ANSWERS = [
    dict(exercise="lr_schedule", says="the warmup starts at 0", code=_schedule(warmup="step")),
    dict(exercise="lr_schedule", says="the cosine decays to 0", code=_schedule(floor="0.0")),
    dict(exercise="lr_schedule", says="the decay is linear, not a cosine", code=_schedule(shape="(1 - t)")),
    dict(exercise="lr_schedule", says="the decay divides by (total_steps - warmup_steps)",
         code=_schedule(decay_steps="total_steps - warmup_steps")),
]
