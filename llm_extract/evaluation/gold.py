"""Load gold records (a folder of hand-labelled Record JSON) and prediction files.

A gold fixture is one Record per file, named ``<letter_id>.json`` (RECORD.md),
anywhere below the gold folder: ``evals/fixtures/dev/*.json`` and
``evals/fixtures/test/*.json`` are the two splits.  The split of a file is the
first folder under the gold root (``dev`` / ``test``), or ``""`` for a file at
the root.  A file that does not validate stops the evaluation with a
:class:`RecordValidationError` naming the file: a silently skipped gold file
would change every figure without anyone noticing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ..errors import InputError, RecordValidationError
from ..fields import ITEM_EXTRAS, LETTER_EXTRAS
from ..models import Record

log = logging.getLogger(__name__)

SPLITS = (
    "all",
    "dev",
    "test",
    "holdout",
    "holdout2",
    "holdout3",
    "holdout4",
    "holdout5",
    "holdout6",
)


@dataclass(frozen=True)
class GoldRecord:
    letter_id: str
    record: Record
    path: Path
    split: str


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(record)"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {err['msg']}{more}"


def parse_record(text: str, *, source: str, letter: str | None = None) -> Record:
    """Validate one Record JSON document; errors name ``source`` and the field."""
    try:
        return Record.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise RecordValidationError(
            f"{source}: not a valid record: {_first_error(exc)}",
            letter=letter,
            field=field,
            cause=exc,
        ) from exc


def load_gold(gold_dir: str | Path, *, split: str = "all") -> list[GoldRecord]:
    """Every gold record below ``gold_dir`` (recursive), sorted by split then letter id."""
    root = Path(gold_dir)
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if not root.is_dir():
        raise InputError(f"gold folder not found: {root}")
    out: list[GoldRecord] = []
    seen: dict[str, Path] = {}
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root)
        file_split = rel.parts[0] if len(rel.parts) > 1 else ""
        if split != "all" and file_split != split:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RecordValidationError(
                f"{path}: cannot read gold file: {exc}", letter=path.stem, cause=exc
            ) from exc
        record = parse_record(text, source=str(path), letter=path.stem)
        if record.letter_id != path.stem:
            raise RecordValidationError(
                f"{path}: letter_id {record.letter_id!r} does not match the file name "
                f"(expected {path.stem!r})",
                letter=path.stem,
                field="letter_id",
            )
        if record.letter_id in seen:
            raise RecordValidationError(
                f"{path}: duplicate gold record for {record.letter_id} "
                f"(also in {seen[record.letter_id]})",
                letter=record.letter_id,
            )
        seen[record.letter_id] = path
        for i, item in enumerate(record.items):
            if item.category is None:
                # RECORD.md: gold always has a category.  Scored as-is (null), but said.
                log.warning("%s: gold item %d has no category", path, i)
        out.append(GoldRecord(record.letter_id, record, path, file_split))
    if not out:
        where = f" (split {split})" if split != "all" else ""
        raise InputError(f"no gold records (*.json) found in {root}{where}")
    return out


def gold_digest(gold: list[GoldRecord]) -> str:
    """A hash of the gold set's RECORD.md content, so a stale baseline can be detected.

    What the models carry beyond the spec (:data:`llm_extract.fields.LETTER_EXTRAS`,
    ``ITEM_EXTRAS``) is left out: a new provenance field must not look like a
    change of the labels.
    """
    h = hashlib.sha256()
    extras = set(LETTER_EXTRAS) - {"letter_id", "items"}
    for g in sorted(gold, key=lambda g: g.letter_id):
        data = g.record.model_dump(mode="json", exclude=extras)
        for item in data["items"]:
            for name in ITEM_EXTRAS:  # dotted for a nested one (medication.drug_class)
                parent, _, leaf = name.rpartition(".")
                owner = item.get(parent) if parent else item
                if isinstance(owner, dict):
                    owner.pop(leaf, None)
        h.update(json.dumps(data, sort_keys=True).encode("utf-8"))
    return h.hexdigest()


def load_predictions(path: str | Path) -> dict[str, Record]:
    """Records from a JSON Lines file (``llm-extract extract -o``), by letter id.

    Blank lines are skipped; a line that is not a valid record raises
    :class:`RecordValidationError` naming the file and line; so does a letter
    that appears twice (which one to score would be a guess).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"predictions file not found: {p}")
    out: dict[str, Record] = {}
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            record = parse_record(line, source=f"{p}:{lineno}")
            if record.letter_id in out:
                raise RecordValidationError(
                    f"{p}:{lineno}: second prediction for {record.letter_id}",
                    letter=record.letter_id,
                )
            out[record.letter_id] = record
    return out
