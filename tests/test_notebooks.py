"""Every notebook is ready for students and CI: Colab cell first, executed, offline, no forbidden imports."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(nb_path):
    return [c for c in json.loads(nb_path.read_text())["cells"] if c["cell_type"] == "code"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_opens_with_the_colab_setup_block(nb, capsys):
    """The first code cell opens with tools/colab_cell.py's block: in Colab it installs vitlib next to Colab's
    own packages (tests/colab/ runs it in a Colab-like runtime); elsewhere it does nothing and prints nothing."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from colab_cell import current_block, setup_block
    from set_repository import repositories

    block = current_block("".join(code_cells(nb)[0]["source"]))
    assert block == setup_block(min(repositories())), "run `python tools/colab_cell.py` to rewrite the block"
    assert "google.colab" not in sys.modules
    exec(block, {})
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_with_outputs_of_a_run(nb):
    cells = [c for c in code_cells(nb) if "".join(c["source"]).strip()]
    not_run = [i for i, c in enumerate(cells) if c.get("execution_count") is None]
    assert not not_run, f"code cells {not_run} were never executed: run `make notebooks` and commit the outputs"
    counts = [c["execution_count"] for c in cells]
    assert counts == sorted(counts), "cells were run out of order: re-run the whole notebook (`make notebooks`)"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_forbidden_imports_paths_or_errors(nb):
    for cell in code_cells(nb):
        src = "".join(cell["source"])
        imports_them = re.search(r"^\s*(import|from)\s+(torchvision|timm)\b", src, re.M)
        assert not imports_them, "torchvision/timm do not import here"
        assert not re.search(r"['\"](/work|/home|/root|/tmp|C:\\\\)", src), "absolute path in a notebook"
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"committed with an error: {out.get('ename')}"
            if out["output_type"] == "stream":
                assert out["name"] != "stderr", f"stderr in a committed output: {''.join(out['text'])[:200]}"


def test_colab_links_agree_and_cover_every_notebook():
    """The install cells and README's badges name one repository, and every notebook has its badge."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from set_repository import BADGE, repositories

    assert len(repositories()) == 1, f"notebooks and README name different repositories: {repositories()}; " \
                                     "run `python tools/set_repository.py OWNER/NAME`"
    readme = (ROOT / "README.md").read_text()
    badged = set(re.findall(BADGE.pattern + r"([\w.-]+\.ipynb)", readme))
    targets = {name for _, _, name in badged}
    assert targets == {nb.name for nb in NOTEBOOKS}, "every notebook needs one README badge, and no badge may dangle"


def test_the_colab_path_of_notebook_07_runs(tmp_path, monkeypatch):
    """Notebook 07's switched-off cell (real ViT-B/16 on flowers) runs end to end, downloads faked:
    a small random ViT stands in for the weights, a folder of generated images for the flowers."""
    import torch
    from PIL import Image

    from vitlib import checkpoints, data
    from vitlib.finetune import at_resolution
    from vitlib.model import ViT, ViTConfig

    cell = next("".join(c["source"]) for c in code_cells(ROOT / "notebooks" / "07_finetuning.ipynb")
                if "".join(c["source"]).startswith("USE_REAL_WEIGHTS = False"))
    asked = []

    def fake_weights(name, root="weights"):
        asked.append(name)
        torch.manual_seed(0)
        return ViT(ViTConfig(image_size=224, patch_size=16, num_classes=7, dim=24, depth=1, heads=2, mlp_dim=48,
                             head="mlp"))

    def fake_flowers(root="data"):
        for k, name in enumerate(["daisy", "roses"]):
            (tmp_path / "flower_photos" / name).mkdir(parents=True)
            for j in range(5):
                Image.new("RGB", (40, 30), (50 * j, 100 * k, 30)).save(tmp_path / "flower_photos" / name / f"{j}.jpg")
        return tmp_path / "flower_photos"

    monkeypatch.setattr(checkpoints, "download_weights", fake_weights)
    monkeypatch.setattr(data, "download_flowers", fake_flowers)
    namespace = {"checkpoints": checkpoints, "at_resolution": at_resolution}
    exec(cell.replace("USE_REAL_WEIGHTS = False", "USE_REAL_WEIGHTS = True", 1), namespace)
    assert asked == ["ViT-B_16-i21k"]
    assert namespace["vit_flowers"].cfg.num_classes == 2 and namespace["flowers_history"].epochs == 3


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_imports_its_own_course_module(nb):
    """Notebook NN_<name> reads its helpers from vitlib.course.nbNN_<name>, and from no other notebook's."""
    source = "\n".join("".join(c["source"]) for c in code_cells(nb))
    own = f"nb{nb.stem}"
    assert f"from vitlib.course import {own} as nb{nb.stem[:2]}" in source
    others = set(re.findall(r"vitlib\.course\.?\s*import\s+(nb\w+)|vitlib\.course\.(nb\w+)", source))
    assert {name for pair in others for name in pair if name} <= {own}


def test_the_benchmarks_textbook_vit_is_notebook_04s(tmp_path):
    """benchmarks/textbook_vit.py runs notebook 04's classes, so the two cannot drift apart."""
    import importlib.util

    import torch

    from vitlib import ViTConfig
    from vitlib.cost import count_params

    spec = importlib.util.spec_from_file_location("textbook_vit", ROOT / "benchmarks" / "textbook_vit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = ViTConfig(image_size=16, patch_size=4, in_channels=3, num_classes=5, dim=32, depth=2, heads=4, mlp_dim=64)
    model = module.TextbookViT(cfg.image_size, cfg.patch_size, cfg.num_classes, cfg.dim, cfg.depth, cfg.heads,
                               cfg.mlp_dim, channels=cfg.in_channels)
    assert sum(p.numel() for p in model.parameters()) == count_params(cfg)
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 5)
    broken = tmp_path / "04_encoder.ipynb"
    broken.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["class Block: pass\n"]}]}))
    with pytest.raises(ValueError, match=r"no longer defines \['Attention', 'TextbookViT'\]"):
        module.load_classes(broken)
