"""The images in docs/img are made from the current code by ``python -m sim.viz.docs_images``."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from PIL import Image

from sim.viz import docs_images

ROOT = Path(__file__).resolve().parents[1]


def test_docs_images_are_made_from_the_current_code(monkeypatch: pytest.MonkeyPatch):
    # Every image hashes the same source files: parse each once, not once per image.
    cached = functools.cache(docs_images.code_fingerprint)
    monkeypatch.setattr(docs_images, "code_fingerprint", cached)
    stale = docs_images.stale_images(ROOT)
    assert not stale, (
        "docs/img is stale: run `python -m sim.viz.docs_images` from the repository root "
        f"({', '.join(f'{name}: {reason}' for name, reason in stale)})"
    )


def test_docs_images_are_slides_with_provenance():
    for name in docs_images.RECIPES:
        with Image.open(ROOT / "docs" / "img" / name) as image:
            assert image.size == (1920, 1080), name
            assert image.text["painsim run id"], name
            assert image.text["Description"], name  # the figure's caption travels with it


def test_the_inputs_hash_ignores_formatting_and_docstrings_but_not_code(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""Doc."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # one\n')
    before = docs_images.code_fingerprint(module)
    module.write_text('"""Other doc."""\ndef f(x):\n    return (x + 1)\n')
    assert docs_images.code_fingerprint(module) == before
    module.write_text("def f(x):\n    return x + 2\n")
    assert docs_images.code_fingerprint(module) != before
