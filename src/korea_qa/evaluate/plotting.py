"""Matplotlib without a display, and figures as PNG bytes (the reports embed them)."""

from __future__ import annotations

import io
from typing import Any

from korea_qa.errors import KoreaQAError


def pyplot() -> Any:
    try:
        import matplotlib
    except ModuleNotFoundError:  # the `eval` extra; `make serve` installs the runtime only
        raise KoreaQAError("the HTML report needs matplotlib: `make install` adds it, or pass "
                           "--no-html") from None

    matplotlib.use("Agg")  # no display; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return buffer.getvalue()
