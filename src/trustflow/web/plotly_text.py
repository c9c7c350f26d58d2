"""Text for Plotly labels: a name shown as the characters it is made of, never as markup.

Plotly draws a subset of HTML in every title, tick, legend and hover label (``<a href>``,
``<b>``, ``<br>``, ``<span style>`` …) and decodes character entities. A shop or product name
passed through :func:`plotly_text` is drawn literally: ``<a href=…>`` appears as those
characters, not as a link. The pages' JavaScript has the same helper (``plotlyText`` in
``templates/_text.html``).
"""

from __future__ import annotations

__all__ = ["plotly_text"]

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def plotly_text(text: str) -> str:
    """``text`` with ``&``, ``<`` and ``>`` as entities, which Plotly draws as the characters."""
    return text.translate(_ENTITIES)
