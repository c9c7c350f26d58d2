"""Names people read: one normal form, nothing invisible, and a key that finds look-alikes.

A shop's name is how buyers and operators tell shops apart, so a name must show what it is.
:func:`normalise_name` gives every name one form (Unicode NFKC, trimmed, each run of spaces one
space) and refuses what a reader cannot see or that changes how the rest is drawn: bidi
controls (a right-to-left override turns ``Shop 2`` into ``2 pohS`` on screen), zero-width
characters, other control and format characters (tag characters that smuggle hidden text
included), line and paragraph separators, and stacks of combining marks.

:func:`name_skeleton` is the key two names share when they look alike: the Unicode TR39
skeleton (https://www.unicode.org/reports/tr39/#def-skeleton) of the name, casefolded, and
the skeleton of that, casefolded again: so ``Shоp 2`` (a Cyrillic ``о``), ``ТЕА`` (Cyrillic
capitals, whose small forms look like nothing Latin) and ``SHOP 2`` meet their Latin, any-case
spellings. The skeleton maps every character to the prototype Unicode's ``confusables.txt``
gives it, as the ``confusable-homoglyphs`` package ships that table (its ``confusables.json``).

Looks come before case: a capital ``I`` is compared as the ``l`` it resembles, so ``IKEA``
meets ``lKEA`` and ``Ikea`` but not ``ikea`` (the one case pair of plain Latin letters whose
looks disagree).

Pure: no store, no web framework. The API's input types (``trustflow.types``), the catalog's
shop actions and its bulk path all call these functions, so a name is judged the same way
everywhere.
Stored skeletons follow the confusables data: a new release of it means recomputing them.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from importlib import resources

__all__ = [
    "BIDI_CONTROLS",
    "MAX_COMBINING_RUN",
    "REFUSED_CATEGORIES",
    "ZERO_WIDTH",
    "NameRefused",
    "name_skeleton",
    "normalise_name",
    "skeleton",
]

#: Unicode's Bidi_Control characters (PropList.txt): embeddings, overrides, isolates, marks.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
#: Characters that draw nothing between their neighbours.
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
#: More combining marks than this on one character is a smear over its neighbours (zalgo text),
#: not writing: real scripts stack two or three after NFKC.
MAX_COMBINING_RUN = 4

#: General categories refused wherever they appear, with what the refusal calls them: every
#: bidi control and zero-width character is a format character (Cf), named apart above.
REFUSED_CATEGORIES = {
    "Cc": "control characters (tabs and line breaks included)",
    "Cf": "format characters",
    "Cs": "unpaired surrogates",
    "Zl": "line separators",
    "Zp": "paragraph separators",
}
_SPACES = re.compile(r"\s+")


class NameRefused(ValueError):
    """A name that cannot be accepted; ``reason`` is a stable slug, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def normalise_name(raw: str) -> str:
    """``raw`` in NFKC with its spaces trimmed and collapsed, or :class:`NameRefused`."""
    name = unicodedata.normalize("NFKC", raw)
    combining = 0
    for ch in name:
        _refuse_invisible(ch)
        combining = combining + 1 if unicodedata.combining(ch) else 0
        if combining > MAX_COMBINING_RUN:
            raise NameRefused(
                "name_combining_marks",
                f"a name may stack at most {MAX_COMBINING_RUN} combining marks on a character",
            )
    name = _SPACES.sub(" ", name).strip()
    if not name:
        raise NameRefused("name_empty", "the name is empty once spaces are trimmed")
    return name


def _refuse_invisible(ch: str) -> None:
    if ch in BIDI_CONTROLS:
        raise NameRefused(
            "name_bidi_control",
            f"a name may not contain bidirectional control characters (U+{ord(ch):04X}):"
            " they change how the text around them is drawn",
        )
    if ch in ZERO_WIDTH:
        raise NameRefused(
            "name_zero_width",
            f"a name may not contain zero-width characters (U+{ord(ch):04X})",
        )
    what = REFUSED_CATEGORIES.get(unicodedata.category(ch))
    if what is not None:
        raise NameRefused(
            "name_invisible_character", f"a name may not contain {what} (U+{ord(ch):04X})"
        )


def skeleton(text: str) -> str:
    """The TR39 skeleton of ``text``: NFD, each character replaced by its prototype, NFD."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(prototypes.get(ch, ch) for ch in decomposed))


def name_skeleton(name: str) -> str:
    """The key two names share when a reader could take one for the other (see the module).

    Defined for any string, so names stored before :func:`normalise_name` existed get one too:
    their invisible characters are dropped (as TR39 drops default-ignorable ones) and their
    spaces collapsed, so ``Shop\u200b 2`` meets ``Shop 2``. On a normalised name those steps
    change nothing.
    """
    spaced = _SPACES.sub(" ", unicodedata.normalize("NFKC", name))
    text = _SPACES.sub(" ", "".join(ch for ch in spaced if unicodedata.category(ch)[0] != "C"))
    text = text.strip()
    return skeleton(skeleton(text).casefold()).casefold()


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each confusable character's prototype, from ``confusables.txt`` as the package ships it.

    The package stores each line ``source → prototype`` both ways round (each side lists the
    other), with left-to-right marks around right-to-left text. A prototype never maps to
    anything else (TR39 skeletons are idempotent) and a source maps to one prototype, so a
    character listing exactly one other string is a source whenever that string is longer than
    one character or lists others too. A pair listing only each other is one line of the file,
    written source first; either way round, the two characters get one skeleton.
    """
    shipped = resources.files("confusable_homoglyphs").joinpath("confusables.json")
    table: dict[str, list[dict[str, str]]] = json.loads(shipped.read_text(encoding="utf-8"))
    listed: dict[str, list[str]] = {}
    for key, entries in table.items():
        listed.setdefault(_unmarked(key), []).extend(_unmarked(e["c"]) for e in entries)
    order = {key: i for i, key in enumerate(listed)}
    prototypes: dict[str, str] = {}
    for key, others in listed.items():
        if len(key) != 1 or len(set(others)) != 1:
            continue
        other = others[0]
        back = set(listed.get(other, ()))
        if len(other) > 1 or len(back) > 1 or order[key] < order[other]:
            prototypes[key] = other
    return prototypes


def _unmarked(text: str) -> str:
    return text.replace("\u200e", "")
