"""The hand-written "textbook" ViT of notebook 04, as a reference for the throughput benchmark.

Plain modules, einops rearranges, fused qkv and attention as two matmuls with a softmax in between:
what a student writes from the paper. It is not part of vitlib (vitlib is the model the series
ships), and it is not copied here either: the classes `Attention`, `Block` and `TextbookViT` are
read from notebook 04's code cells, so the benchmark always measures the notebook's model.
"""

import ast
import json
from pathlib import Path

import torch
from einops import rearrange
from torch import nn

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "04_encoder.ipynb"
CLASSES = ("Attention", "Block", "TextbookViT")


def load_classes(notebook: Path = NOTEBOOK) -> dict:
    """{name: class} for CLASSES, defined by running only their `class` statements from the notebook."""
    namespace = {"torch": torch, "nn": nn, "rearrange": rearrange}
    found = set()
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if not any(f"class {name}" in source for name in CLASSES):
            continue
        # the cell may also hold IPython magics or demo code: keep only the class statements
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        classes = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name in CLASSES]
        exec(compile(ast.Module(body=classes, type_ignores=[]), str(notebook), "exec"), namespace)
        found |= {node.name for node in classes}
    missing = set(CLASSES) - found
    if missing:
        raise ValueError(f"{notebook.name} no longer defines {sorted(missing)}; update benchmarks/textbook_vit.py")
    return {name: namespace[name] for name in CLASSES}


TextbookViT = load_classes()["TextbookViT"]
