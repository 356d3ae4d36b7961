"""The course layer: what the notebooks import, one module per notebook (and benchmarks/widget_latency.py,
which times its widgets; the core never imports it).

    ui          the one widget style (controls above a figure redrawn from their values)
    figures     drawings that two or more notebooks share
    exercise    how a "Your turn" exercise is run and judged (and its verdict recorded for the grader)
    stand_ins   vitlib's version of an exercise's function, for the cells after it in the student edition
    nb00_introduction ... nb08_hybrid_and_scale
                each notebook's drawings, widgets and exercise checkers, in that order

A notebook imports its own module (`from vitlib.course import nb06_inside_vit as nb06`); a notebook
module never imports another notebook's module. The core (`vitlib/*.py`) never imports this package.
"""
