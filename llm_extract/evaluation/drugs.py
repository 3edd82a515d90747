"""How well the drug dimension resolves labelled medication items (``evals/drugs/gold.json``).

The gold labels each medication item of the gold fixtures (by letter id and
item index) with its generic ingredients and one of the nine classes of the
drug dimension's brief.  Two figures:

- **resolver**: :func:`llm_extract.drugs.resolve_drug` on the name as the gold
  fixture writes it -- the drug dimension alone;
- **end to end** (given a batch store): the stored record's item at the same
  index, its medication name as extracted and the ingredients/class derived
  from it -- what an analyst's ``stats --by drug_class`` counts.

An item is correct when its ingredients are the gold's (as a set: order and
duplicates aside) and its class is the gold's.  Classes finer than the gold's
nine (``benzodiazepine``, ``topical_analgesic``) are folded into ``other``
before comparing (:data:`FOLD`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..drugs import Drug, drug_of, resolve_drug
from ..errors import ConfigError
from ..models import DrugClass

FOLD = {DrugClass.BENZODIAZEPINE: "other", DrugClass.TOPICAL_ANALGESIC: "other"}


@dataclass(frozen=True)
class DrugGold:
    letter_id: str
    item_index: int
    name: str
    ingredients: frozenset[str]
    drug_class: str


@dataclass
class DrugScore:
    """Items scored, resolved (not ``unresolved``) and correct; the misses, one line each."""

    items: int = 0
    resolved: int = 0
    correct: int = 0
    ingredients_correct: int = 0
    class_correct: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, gold: DrugGold, drug: Drug | None, name: str | None) -> None:
        self.items += 1
        if drug is None or drug.resolution == "unresolved":
            self.misses.append(f"{gold.letter_id}#{gold.item_index} {name!r}: unresolved")
            return
        self.resolved += 1
        cls = FOLD.get(drug.drug_class, str(drug.drug_class)) if drug.drug_class else None
        ok_ing = set(drug.ingredients) == gold.ingredients
        ok_cls = cls == gold.drug_class
        self.ingredients_correct += ok_ing
        self.class_correct += ok_cls
        self.correct += ok_ing and ok_cls
        if not (ok_ing and ok_cls):
            self.misses.append(
                f"{gold.letter_id}#{gold.item_index} {name!r}: {sorted(drug.ingredients)} {cls}"
                f" (gold {sorted(gold.ingredients)} {gold.drug_class})"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "resolved": self.resolved,
            "correct": self.correct,
            "ingredients_correct": self.ingredients_correct,
            "class_correct": self.class_correct,
            "misses": self.misses,
        }


def load_drug_gold(path: Path) -> list[DrugGold]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return [
            DrugGold(
                str(e["letter_id"]),
                int(e["item_index"]),
                str(e["name"]),
                frozenset(str(i).casefold() for i in e["ingredients"]),
                str(e["drug_class"]),
            )
            for e in data
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"cannot read the drug gold {path}: {exc} (expected a JSON list of "
            "{letter_id, item_index, name, ingredients, drug_class})",
            cause=exc,
        ) from exc


def score_resolver(gold: Iterable[DrugGold]) -> DrugScore:
    """The resolver on the gold's own names."""
    score = DrugScore()
    for g in gold:
        score.add(g, resolve_drug(g.name), g.name)
    return score


def score_records(gold: Iterable[DrugGold], records: dict[str, dict[str, Any]]) -> DrugScore:
    """Stored records (letter id -> record JSON): the item at the gold's index."""
    score = DrugScore()
    for g in gold:
        items = (records.get(g.letter_id) or {}).get("items") or []
        med = items[g.item_index].get("medication") if g.item_index < len(items) else None
        score.add(g, drug_of(med), med.get("name") if med else None)
    return score
