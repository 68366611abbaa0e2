"""Identity of a run: its id and UTC times (recorded in memory, written into manifests).

Examples
--------
>>> from datetime import UTC, datetime
>>> rid = new_run_id(datetime(2026, 11, 25, 15, 27, 46, tzinfo=UTC))
>>> rid.startswith("20261125T152746Z-"), len(rid)
(True, 21)
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def new_run_id(now: datetime | None = None) -> str:
    """Sortable run id: UTC timestamp plus a random suffix, e.g. ``20261125T152746Z-3f2a``.

    Run ids sort in start order; the suffix keeps runs started in the same second apart.
    """
    now = now or utc_now()
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
