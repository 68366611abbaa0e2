"""Plain-text tables the ``painsim`` commands print (the numbers of the results, aligned).

Kept apart from the command definitions so each module has one job.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def plain_table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 2) -> str:
    """Columns separated by two spaces; numbers right-aligned with ``digits`` decimals.

    Examples
    --------
    >>> print(plain_table(["name", "value"], [["a", 1.5], ["bb", 10]]))
    name  value
    a      1.50
    bb       10
    """

    def cell(value: Any) -> tuple[str, bool]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value), False
        return (f"{value:.{digits}f}" if isinstance(value, float) else str(value)), True

    cells = [[(str(h), False) for h in header], *[[cell(v) for v in row] for row in rows]]
    numeric = [any(c[i][1] for c in cells[1:]) for i in range(len(header))]
    widths = [max(len(c[i][0]) for c in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            text.rjust(width) if right else text.ljust(width)
            for (text, _), width, right in zip(row, widths, numeric, strict=True)
        ).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def _year(year: float) -> int | float:
    return int(year) if float(year).is_integer() else year


def format_decades(table: pd.DataFrame, arms: Sequence[str] | None = None) -> str:
    """The decade table as plain text, one block per arm (in the order ``arms``)."""
    blocks = []
    for arm in arms or sorted(table["arm"].unique()):
        body = table[table["arm"] == arm].drop(columns="arm")
        rows = [[_year(row[0]), *row[1:]] for row in body.itertuples(index=False)]
        blocks.append(f"arm: {arm}\n{plain_table(list(body.columns), rows, digits=2)}")
    return "\n\n".join(blocks)


ARM_COLUMNS: dict[str, str] = {
    "dmn_perturbation": "DMN perturbation",
    "pain": "pain",
    "coping": "coping (PCS)",
    "share_chronic": "% chronic",
    "healthy_range": "% DMN healthy",
    "responder": "% responders",
}


def format_arms(summary: pd.DataFrame, arms: Sequence[str]) -> str:
    """Per-arm outcomes at the horizon (means over replicates), in the order ``arms``."""
    import pandas as pd

    table = summary.pivot(index="arm", columns="outcome", values="mean")
    table = table.loc[list(arms), list(ARM_COLUMNS)]
    for column in ("share_chronic", "healthy_range", "responder"):
        table[column] *= 100
    rows = [
        [arm, *("–" if pd.isna(v) else v for v in values)]
        for arm, values in zip(table.index, table.to_numpy(), strict=True)
    ]
    return "at the horizon:\n" + plain_table(["arm", *ARM_COLUMNS.values()], rows, digits=2)


def format_findings(findings: pd.DataFrame) -> str:
    """The findings of a virtual study as plain text (one row per finding)."""
    import pandas as pd

    rows = []
    for row in findings.to_dict("records"):
        target = "-" if pd.isna(row["target"]) else f">= {100 * row['target']:.0f} %"
        met = "-" if pd.isna(row["met"]) else ("yes" if row["met"] else "NO")
        digits = 3 if row["effect"] == "a*b" else 2
        effect = (
            "-"
            if row["key"] == "all"
            else (
                f"{row['effect']} {row['median']:.{digits}f} "
                f"({row['low']:.{digits}f} to {row['high']:.{digits}f})"
            )
        )
        rows.append([row["finding"], effect, f"{100 * row['detection_rate']:.0f} %", target, met])
    return plain_table(
        ["finding", "effect: median (95 % range)", "detected", "target", "met"], rows
    )


def format_timing(table: pd.DataFrame) -> str:
    """Twin differences by treatment (rows) and start (columns), one block per outcome."""
    from sim.core.outcomes import label

    blocks = []
    for (years, outcome), part in table.groupby(["follow_up_years", "outcome"], sort=False):
        wide = part.pivot(index="treatment", columns="start", values="difference")
        wide = wide.loc[list(dict.fromkeys(part["treatment"])), list(dict.fromkeys(part["start"]))]
        rows = [[name, *values] for name, values in zip(wide.index, wide.to_numpy(), strict=True)]
        header = [f"{label(outcome, difference=True)}, {years:g} y after start", *wide.columns]
        blocks.append(plain_table(header, rows, digits=3))
    return "\n\n".join(blocks)


def output_width() -> int:
    """Columns to wrap text to: the terminal's width, or 100 when output is not a terminal."""
    return max(60, shutil.get_terminal_size((100, 24)).columns)


def wrapped_table(header: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> str:
    """Text columns; the last column is wrapped to fit ``width``, continued under itself.

    Examples
    --------
    >>> print(wrapped_table(["name", "source"], [["a", "one two three four"]], width=16))
    name  source
    a     one two
          three four
    """
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    indent = sum(widths) + 2 * len(widths)
    room = max(10, width - indent)
    lines = []
    for row in [header, *rows]:
        head = "".join(f"{cell:<{w}}  " for cell, w in zip(row[:-1], widths, strict=True))
        parts = textwrap.wrap(str(row[-1]), room, break_on_hyphens=False) or [""]
        lines.append((head + parts[0]).rstrip())
        lines.extend(" " * indent + part for part in parts[1:])
    return "\n".join(lines)
