"""The figures in ``docs/img``, made from the current code by one command.

Run from the repository root::

    python -m sim.viz.docs_images            # simulate and write docs/img/*.png (~1-2 min)
    python -m sim.viz.docs_images --check    # exit 1 and name the stale images

Each image is a figure of ``painsim figures`` (talk style, 1920 x 1080 px) of a scenario of
``scenarios/``, run with a smaller cohort so the command stays short (:data:`RECIPES`). Each PNG
carries the painsim version and a hash of everything that decides what it shows
(:func:`inputs_hash`): the recipe, the scenario file and the code that makes the numbers and
draws them. The code is hashed as syntax trees without docstrings, so reformatting or editing
comments and docstrings does not make an image stale; any change to what the code does does.
``tests/test_docs_images.py`` fails when an image is stale or missing.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

import sim

__all__ = ["RECIPES", "RUNS", "inputs_hash", "make_images", "stale_images"]

ROOT = Path(__file__).resolve().parents[2]
"""The repository root (``docs/img`` and ``scenarios/`` are under it)."""
IMAGES = ROOT / "docs" / "img"
HASH_KEY = "painsim docs inputs"
"""PNG text key of the inputs hash."""
VERSION_KEY = "painsim version"

RUNS: dict[str, dict[str, Any]] = {
    "natural_history": {"scenario": "scenarios/natural_history.toml", "cohort_size": 3000},
    "treatments": {"scenario": "scenarios/treatments.toml", "cohort_size": 5000},
}
"""The runs behind the images: a scenario file and the cohort size it is run with."""
RECIPES: dict[str, dict[str, str]] = {
    "headline_run.png": {"run": "natural_history", "figure": "00_headline"},
    "perturbation_by_years.png": {"run": "natural_history", "figure": "01_perturbation_by_years"},
    "arm_comparison.png": {"run": "treatments", "figure": "02_arm_comparison"},
    "treatment_over_time.png": {"run": "treatments", "figure": "02b_treatment_over_time"},
    "connectomes.png": {"run": "treatments", "figure": "03_connectomes"},
}
"""docs/img file -> the run and the figure it shows."""
CODE: tuple[str, ...] = (
    "sim/core/*.py",
    "sim/scenario/*.py",
    "sim/analysis/*.py",
    "sim/viz/style.py",
    "sim/viz/figures/*.py",
    "sim/viz/docs_images.py",
)
"""Source files whose behaviour decides what the images show (relative to the root)."""


def code_fingerprint(path: Path) -> str:
    """The syntax tree of a module without docstrings: what the code does, not how it reads."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def code_files(root: Path = ROOT) -> list[Path]:
    """The source files :data:`CODE` names, sorted."""
    return sorted({p for pattern in CODE for p in root.glob(pattern) if p.is_file()})


def inputs_hash(name: str, root: Path = ROOT) -> str:
    """SHA-256 of what decides the image ``name``: recipe, run, scenario file and code."""
    recipe = RECIPES[name]
    run = RUNS[recipe["run"]]
    digest = hashlib.sha256()
    digest.update(json.dumps({"recipe": recipe, "run": run}, sort_keys=True).encode())
    digest.update((root / run["scenario"]).read_bytes())
    for path in code_files(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(code_fingerprint(path).encode())
    return digest.hexdigest()


def stale_images(root: Path = ROOT) -> list[tuple[str, str]]:
    """(image, reason) for every docs image that is missing or not made from the current code."""
    out = []
    for name in RECIPES:
        path = root / "docs" / "img" / name
        if not path.is_file():
            out.append((name, "missing"))
            continue
        with Image.open(path) as image:
            text = dict(getattr(image, "text", {}))
        if text.get(VERSION_KEY) != sim.__version__:
            out.append((name, f"made by painsim {text.get(VERSION_KEY, 'unknown')}"))
        elif text.get(HASH_KEY) != inputs_hash(name, root):
            out.append((name, "made from other code or inputs"))
    return out


def _stamp(source: Path, target: Path, inputs: str) -> None:
    """Copy a figure PNG with its metadata and the inputs hash added."""
    with Image.open(source) as image:
        info = PngInfo()
        for key, value in dict(image.text).items():
            info.add_text(key, value)
        info.add_text(HASH_KEY, inputs)
        image.save(target, pnginfo=info, optimize=True)


def make_images(
    names: Iterable[str] | None = None, root: Path = ROOT, log: Any = print
) -> list[Path]:
    """Simulate the recipes' runs and write their figures to ``docs/img``."""
    from sim.experiments.run import simulate
    from sim.scenario import load_scenario, parse_scenario
    from sim.viz.figures import make_figures

    wanted = list(names or RECIPES)
    target = root / "docs" / "img"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for run_name, run in RUNS.items():
        images = [n for n in wanted if RECIPES[n]["run"] == run_name]
        if not images:
            continue
        data = load_scenario(root / run["scenario"]).model_dump()
        data["cohort"]["size"] = run["cohort_size"]
        scenario = parse_scenario(data, run["scenario"])
        log(f"{run_name}: simulating {run['cohort_size']:,} people")
        result = simulate(scenario, progress=True)
        with tempfile.TemporaryDirectory() as tmp:
            made = make_figures(result, Path(tmp) / "figures", animation=False, progress=True)
            files = {e.name: e.files[0] for e in made.entries}
            for name in images:
                figure = RECIPES[name]["figure"]
                if figure not in files:
                    raise RuntimeError(f"{run_name}: figure {figure} was not drawn")
                _stamp(files[figure], target / name, inputs_hash(name, root))
                written.append(target / name)
                log(f"{target / name}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.viz.docs_images", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale images")
    args = parser.parse_args(argv)
    stale = stale_images()
    if args.check:
        for name, reason in stale:
            print(f"docs/img/{name}: stale ({reason})")
        return 1 if stale else 0
    make_images()
    return 0


if __name__ == "__main__":
    sys.exit(main())
