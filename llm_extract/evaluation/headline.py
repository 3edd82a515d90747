"""The headline figures of an eval run: one table that every consumer reads.

The text, JSON and HTML reports, ``--compare``, ``--fail-under`` and the
regression test (tests/test_eval_regression.py) all take the headline figures
from :data:`HEADLINES`; none of them lists the names itself.

A figure's ``name`` is also its path in the ``--json`` document:
``mean_field_score`` is a top-level key, ``items.f1`` is ``["items"]["f1"]``.
Figures sharing a prefix (``items.*``) are shown together on one line of the
text report.

**Adding a headline figure is one line** in :data:`HEADLINES` (the
``review.*`` figures of :mod:`.review_signal` were added so)::

    Figure("review.recall", "needs-review recall", lambda r: review_signal.of(r).recall),

It then appears in ``--json`` (under ``review.recall``, merged into a
``review`` section if one is written), the text report's summary, the HTML
cards and split table, ``--compare``'s headline rows, ``--fail-under`` and the
regression gate (which compares it against ``evals/baseline-rules.json`` once
the baseline has it; a figure the baseline lacks is skipped until the
baseline is regenerated).  The value function receives the
:class:`~llm_extract.evaluation.scoring.EvalResult` and returns a fraction in
[0, 1] or None (not defined for this run).  ``better="lower"`` or
``better=None`` for a figure where higher is not an improvement (a flag rate).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from . import review_signal
from .scoring import EvalResult


@dataclass(frozen=True)
class Figure:
    name: str  # dotted: the --json path, the --fail-under / --compare name
    label: str  # how the reports name it
    value: Callable[[EvalResult], float | None]
    # Which way is an improvement: the regression gate holds a "higher" figure
    # at or above the baseline (a "lower" one at or below), and --compare colours
    # its delta by it; None (e.g. a flag rate) is shown but never gated.
    better: Literal["higher", "lower"] | None = "higher"

    @property
    def group(self) -> str:
        """The prefix shared by figures shown together (``items``), else the name."""
        return self.name.split(".", 1)[0]

    @property
    def short(self) -> str:
        """The name within its group (``f1`` of ``items.f1``)."""
        return self.name.split(".", 1)[-1]


HEADLINES: tuple[Figure, ...] = (
    Figure("mean_field_score", "mean field score", lambda r: r.mean_field_score),
    Figure("decision_accuracy", "decision accuracy", lambda r: r.decision_accuracy),
    Figure("items.precision", "item precision", lambda r: r.items.precision),
    Figure("items.recall", "item recall", lambda r: r.items.recall),
    Figure("items.f1", "item F1", lambda r: r.items.f1),
    # needs_review as a measured signal (evaluation/review_signal.py)
    Figure(
        "review.flag_rate",
        "flagged for review",
        lambda r: review_signal.of(r).flag_rate,
        better=None,  # a rate to read: fewer flags is better only while recall holds
    ),
    Figure("review.recall", "review recall", lambda r: review_signal.of(r).recall),
    Figure("review.precision", "review precision", lambda r: review_signal.of(r).precision),
)


def names() -> tuple[str, ...]:
    """The headline figures' names, in table order."""
    return tuple(f.name for f in HEADLINES)


def better(name: str) -> str | None:
    """``"higher"``, ``"lower"`` or None for the headline figure ``name``."""
    return next((f.better for f in HEADLINES if f.name == name), None)


def figures(result: EvalResult) -> dict[str, float | None]:
    """``{name: value}`` of every headline figure (unrounded)."""
    return {f.name: f.value(result) for f in HEADLINES}


def all_figures(result: EvalResult) -> dict[str, float | None]:
    """Every field score and headline figure by name (for --fail-under)."""
    return {**{n: fs.score for n, fs in result.fields.items()}, **figures(result)}


def value_of(result: EvalResult, name: str) -> float | None:
    """A headline figure or a field's score, by name."""
    for fig in HEADLINES:
        if fig.name == name:
            return fig.value(result)
    return result.fields[name].score


def lookup(doc: Mapping[str, Any], name: str) -> Any:
    """The value at dotted path ``name`` in a JSON document (None when absent)."""
    value: Any = doc
    for part in name.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def from_json(doc: Mapping[str, Any]) -> dict[str, float | None]:
    """The headline figures of an ``eval --json`` document (None where it lacks one)."""
    return {name: lookup(doc, name) for name in names()}


def put(doc: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``values`` at their dotted paths into ``doc``, merging into sections."""
    for name, value in values.items():
        *parents, leaf = name.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return doc
