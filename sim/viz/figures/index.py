"""``index.html``: the contact sheet of a figures folder.

One card per figure drawn, with its caption and links to every file of it in the folder (formats
drawn earlier included); the thumbnail is the figure's PNG (or the animation's GIF) whenever the
folder holds one, so drawing SVGs after PNGs keeps the thumbnails. Then the figures not drawn,
with the reason, and any other files in the folder.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import sim
from sim.viz import style as hs
from sim.viz.figures.common import Entry

PREVIEW_SUFFIXES: tuple[str, ...] = (".png", ".gif")
"""Files shown as a card's thumbnail, in order of preference."""
FILE_ORDER: tuple[str, ...] = (".png", ".svg", ".pdf", ".gif", ".mp4")
"""Order of the file links on a card."""

STYLE_SHEET = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #111; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr));
       gap: 1.5em; }
figure { margin: 0; border: 1px solid #ddd; padding: .6em; background: #fff; }
img { width: 100%; height: auto; display: block; }
figcaption { font-size: .9em; margin-top: .5em; line-height: 1.35; }
.files { color: #555; white-space: nowrap; }
.noimg { color: #555; padding: 2em 0; text-align: center; }
header p { color: #444; margin: .2em 0; }
"""


def files_of(name: str, listing: Sequence[str]) -> list[str]:
    """The files of figure ``name`` among ``listing``, PNG first.

    Examples
    --------
    >>> files_of("01_a", ["01_a.svg", "01_a.png", "01_ab.png", "index.html"])
    ['01_a.png', '01_a.svg']
    """
    mine = [f for f in listing if Path(f).stem == name and Path(f).suffix in FILE_ORDER]
    return sorted(mine, key=lambda f: FILE_ORDER.index(Path(f).suffix))


def _card(entry: Entry, files: Sequence[str]) -> str:
    preview = next((f for s in PREVIEW_SUFFIXES for f in files if f.endswith(s)), None)
    target = preview or (files[0] if files else "")
    image = (
        f'<img src="{html.escape(preview)}" alt="{html.escape(entry.title)}">'
        if preview
        else '<div class="noimg">(no PNG: open a file below)</div>'
    )
    links = " · ".join(
        f'<a href="{html.escape(f)}">{Path(f).suffix[1:].upper()}</a>' for f in files
    )
    return (
        f'<figure id="{html.escape(entry.name)}"><a href="{html.escape(target)}">{image}</a>'
        f"<figcaption><b>{html.escape(entry.title)}.</b> {html.escape(entry.caption)} "
        f'<span class="files">{links}</span></figcaption></figure>'
    )


def index_html(
    entries: Sequence[Entry],
    skipped: Sequence[tuple[str, str]],
    listing: Sequence[str],
    *,
    title: str,
    run_id: str,
    style: hs.Style,
    notes: Sequence[str] = (),
) -> str:
    """The contact sheet's HTML.

    Parameters
    ----------
    entries
        Figures drawn.
    skipped
        (name, reason) of figures not drawn.
    listing
        Names of the files in the figures folder (after drawing).
    title
        Scenario name ("" if unknown).
    run_id, style
        Shown in the header.
    notes
        Lines for the header (e.g. where connectivity came from).
    """
    cards, claimed = [], set()
    for entry in entries:
        files = files_of(entry.name, listing) or [f.name for f in entry.files]
        claimed.update(files)
        cards.append(_card(entry, files))
    others = [f for f in listing if f not in claimed and f != "index.html"]
    skipped_html = "".join(
        f"<li><code>{html.escape(n)}</code>: {html.escape(r)}</li>" for n, r in skipped
    )
    others_html = "".join(
        f'<li><a href="{html.escape(n)}">{html.escape(n)}</a></li>' for n in others
    )
    notes_html = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    heading = f"painsim figures{': ' + html.escape(title) if title else ''}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>painsim figures: {html.escape(title or run_id)}</title>
<style>{STYLE_SHEET}</style></head>
<body><header><h1>{heading}</h1>
<p>run id <code>{html.escape(run_id)}</code> · painsim {html.escape(sim.__version__)} ·
style <code>{style.name}</code> · {len(entries)} figures</p>{notes_html}</header>
<main>
{chr(10).join(cards)}
</main>
{"<h2>Not drawn</h2><ul>" + skipped_html + "</ul>" if skipped else ""}
{"<h2>Other files in this folder</h2><ul>" + others_html + "</ul>" if others else ""}
</body></html>
"""


def write_index(folder: Path, text: str) -> Path:
    """Write ``index.html`` into ``folder`` (the writer's staging folder)."""
    path = Path(folder) / "index.html"
    path.write_text(text, encoding="utf-8")
    return path
