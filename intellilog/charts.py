"""Server-side pictures for the admin: matplotlib figures as inline PNG data URIs (no files, no JS)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt


def png_data_uri(figure: plt.Figure) -> str:
    """The figure as a ``data:image/png`` URI for an ``<img src>``; closes the figure."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
