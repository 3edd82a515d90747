"""Flat tables for analysts from a batch store: letters, items, failures.

``letters``: one row per extracted letter; ``items``: one row per disputed
item, joined to its letter by ``letter_id`` (and, unambiguously, by ``key``:
two files with the same name in different folders, or one letter extracted by
two backends, share a ``letter_id`` but never a ``key``); ``failures``: one
row per letter that could not be extracted, with its error.

**Corrections.**  By default the values a person set in ``llm-extract review``
replace the extracted ones: ``corrected_fields`` (letters and items) names
them, ``review_status`` / ``reviewed_by`` say who reviewed the letter, and a
letter marked *unusable* moves to ``failures`` (``error_class`` ``Unusable``,
the note as message).  A correction whose extraction has changed since is not
applied and is counted in ``stale_corrections``.  ``--raw`` writes the
extraction exactly as produced.  The columns are derived from the models
(:mod:`llm_extract.fields`): a field added to the record becomes a column.

``label-studio`` writes Label Studio tasks instead (the letter text with the
extraction as pre-annotations): :mod:`llm_extract.review.labelstudio`.

The three table formats carry the same columns, with list fields joined by ``"; "``
so that a CSV opens in a spreadsheet as it is:

- ``csv``: UTF-8 with a BOM-less header row, booleans ``true``/``false``, empty
  cell for null;
- ``jsonl``: one JSON object per line (null is ``null``);
- ``parquet``: typed columns (dates are ``date32``, counts ``int64``) via pyarrow
  (the ``parquet`` extra).

Rows stream from the store to the file in chunks, so exporting a large
archive needs little memory.  Each file is written to a temporary name and
renamed into place, so a reader never sees half a table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..drugs import drug_of, forget_corrected
from ..errors import ConfigError
from ..field_paths import get_path
from ..fields import field_kind, flat, spec_fields
from ..review_flags import ReviewFlag, flagged_paths
from .corrections import (
    REOPENED,
    UNUSABLE,
    LetterState,
    apply_corrections,
    letter_ref,
    open_if_present,
)
from .store import DONE, FAILED, Store
from .tables import require_pyarrow, write_atomic
from .tables import write_parquet as write_parquet  # batch/dataset.py writes with it

Format = Literal["jsonl", "csv", "parquet", "label-studio"]
# Writes Label Studio tasks from a store: (store, dest, backend=, reviews=) -> name -> (path, rows).
TaskWriter = Callable[..., dict[str, tuple[Path, int]]]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "parquet", "label-studio")
JOIN = "; "


def _column(path: str) -> str:
    """A field path's column: ``reviewer.specialties`` -> ``reviewer_specialties``;
    ``guideline_sources.maximus`` -> ``maximus_sources`` (the name analysts know)."""
    if path.startswith("guideline_sources."):
        return f"{path.split('.', 1)[1]}_sources"
    return flat(path)


def _ctype(annotation: Any) -> str:
    kind = field_kind(annotation)[0]
    return {"int": "int", "bool": "bool", "date": "date"}.get(kind, "str")


# field path -> column, derived from the models (llm_extract.fields): a field
# added to the record is a column of the export without a change here.
LETTER_FIELD_COLUMNS: dict[str, str] = {
    f.path: _column(f.path) for f in spec_fields() if f.level == "letter"
}
ITEM_FIELD_COLUMNS: dict[str, str] = {
    f.path: _column(f.path) for f in spec_fields() if f.level == "item"
}
_TYPES = {f"{f.level}:{f.path}": _ctype(f.annotation) for f in spec_fields()}

# column -> type ("str", "int", "bool", "date", "float"): drives parquet types
LETTER_COLUMNS: dict[str, str] = {
    "letter_id": "str",
    **{col: _TYPES[f"letter:{p}"] for p, col in LETTER_FIELD_COLUMNS.items()},
    "n_items": "int",
    "n_upheld": "int",
    "n_overturned": "int",
    "needs_review": "bool",
    "review_reasons": "str",
    # The fields to check (review flags' paths: patient.age; items[1].quantity)
    # and the flags' reason codes (models.ReviewCode).
    "flagged_fields": "str",
    "review_codes": "str",
    "n_checks": "int",
    # What a person did (empty in --raw exports and for letters nobody reviewed):
    # the fields whose value a person set, the letter's review state, by whom,
    # and corrections no longer applied because the extraction changed.
    "corrected_fields": "str",
    "review_status": "str",
    "reviewed_by": "str",
    "stale_corrections": "int",
    "backend": "str",
    "backend_version": "str",
    "model": "str",
    "prompt_version": "str",
    "schema_version": "str",
    "fallback": "bool",
    "prompt_tokens": "int",
    "completion_tokens": "int",
    "seconds": "float",
    "source_file": "str",
    "text_sha256": "str",
    "file_sha256": "str",
    "key": "str",
}

ITEM_COLUMNS: dict[str, str] = {
    "letter_id": "str",
    "item_index": "int",
    **{col: _TYPES[f"item:{p}"] for p, col in ITEM_FIELD_COLUMNS.items()},
    # The drug dimension (llm_extract.drugs), derived from medication_name as
    # exported (a corrected name is derived again); empty for other items.
    "drug_ingredients": "str",
    "drug_class": "str",
    "drug_resolution": "str",
    # the item's fields a person set, relative to the item (quantity; medication.name)
    "corrected_fields": "str",
    # the item's fields to check, relative to the item ("item": the whole item)
    "flagged_fields": "str",
    "case_number": "str",
    "decision_date": "date",
    "reviewer_specialties": "str",
    "backend": "str",
    "model": "str",
    "key": "str",
}

FAILURE_COLUMNS: dict[str, str] = {
    "letter_id": "str",
    "source_file": "str",
    # an extraction error's class, or "Unusable" for a letter a person marked so
    "error_class": "str",
    "error_message": "str",
    "field": "str",
    "cause": "str",
    "attempts": "int",
    "backend": "str",
    "backend_version": "str",
    "model": "str",
    "prompt_version": "str",
    "finished_at": "str",
    "file_sha256": "str",
    "key": "str",
}


def _joined(values: Iterable[Any] | None) -> str:
    return JOIN.join(str(v) for v in values or [])


def _cell(value: Any) -> Any:
    return _joined(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class ReviewInfo:
    """What a person did to one letter, for its export rows."""

    corrected: tuple[str, ...] = ()
    status: str | None = None
    reviewer: str | None = None
    stale: int = 0


NO_REVIEW = ReviewInfo()


def review_flags(rec: dict[str, Any]) -> list[ReviewFlag]:
    """A stored record's review flags (none in a record stored before flags existed)."""
    return [ReviewFlag.model_validate(f) for f in rec.get("review_flags") or []]


def letter_row(row: Any, rec: dict[str, Any], review: ReviewInfo = NO_REVIEW) -> dict[str, Any]:
    """The ``letters`` row of one stored result (``row``) and its record."""
    items = rec.get("items") or []
    prov = rec.get("provenance") or {}
    flags = review_flags(rec)
    out: dict[str, Any] = {"letter_id": rec.get("letter_id") or row["letter_id"]}
    for path, col in LETTER_FIELD_COLUMNS.items():
        out[col] = _cell(get_path(rec, path))
    out.update(
        {
            "n_items": len(items),
            "n_upheld": sum(1 for it in items if it.get("decision") == "upheld"),
            "n_overturned": sum(1 for it in items if it.get("decision") == "overturned"),
            "needs_review": bool(rec.get("needs_review")),
            "review_reasons": _joined(rec.get("review_reasons")),
            "flagged_fields": _joined(flagged_paths(flags)),
            "review_codes": _joined(dict.fromkeys(f.code.value for f in flags)),
            "n_checks": len(rec.get("checks") or []),
            "corrected_fields": _joined(review.corrected),
            "review_status": review.status,
            "reviewed_by": review.reviewer,
            "stale_corrections": review.stale,
            "backend": row["backend"],
            "backend_version": row["backend_version"],
            "model": row["model"],
            "prompt_version": row["prompt_version"],
            "schema_version": prov.get("schema_version"),
            "fallback": bool(prov.get("fallback")),
            "prompt_tokens": row["prompt_tokens"],
            "completion_tokens": row["completion_tokens"],
            "seconds": round(float(row["seconds"]), 4),
            "source_file": row["source_path"],
            "text_sha256": row["text_sha256"],
            "file_sha256": row["file_sha256"],
            "key": row["key"],
        }
    )
    return out


def item_rows(
    row: Any, rec: dict[str, Any], review: ReviewInfo = NO_REVIEW
) -> Iterator[dict[str, Any]]:
    """The ``items`` rows of one stored result, ``item_index`` counting from 1."""
    specialties = _joined((rec.get("reviewer") or {}).get("specialties"))
    flagged = flagged_paths(review_flags(rec))
    for i, it in enumerate(rec.get("items") or [], start=1):
        prefix = f"items[{i - 1}]."
        out: dict[str, Any] = {
            "letter_id": rec.get("letter_id") or row["letter_id"],
            "item_index": i,
        }
        for path, col in ITEM_FIELD_COLUMNS.items():
            value = get_path(it, path)
            out[col] = bool(value) if _TYPES[f"item:{path}"] == "bool" else _cell(value)
        drug = drug_of(it.get("medication"))
        out["drug_ingredients"] = _joined(drug.ingredients) if drug else None
        out["drug_class"] = str(drug.drug_class) if drug and drug.drug_class else None
        out["drug_resolution"] = drug.resolution if drug else None
        out.update(
            {
                "corrected_fields": _joined(
                    c.removeprefix(prefix) for c in review.corrected if c.startswith(prefix)
                ),
                "flagged_fields": _joined(
                    "item" if p == prefix[:-1] else p.removeprefix(prefix)
                    for p in flagged
                    if p == prefix[:-1] or p.startswith(prefix)
                ),
                "case_number": rec.get("case_number"),
                "decision_date": rec.get("decision_date"),
                "reviewer_specialties": specialties,
                "backend": row["backend"],
                "model": row["model"],
                "key": row["key"],
            }
        )
        yield out


def failure_row(row: Any, unusable: LetterState | None = None) -> dict[str, Any]:
    """A failed letter's row; or a letter a person marked unusable (``unusable``)."""
    error = json.loads(row["error_json"]) if row["error_json"] else {}
    return {
        "letter_id": row["letter_id"],
        "source_file": row["source_path"],
        "error_class": "Unusable" if unusable else row["error_class"],
        "error_message": (
            f"marked unusable by {unusable.reviewer}: {unusable.note}"
            if unusable
            else row["error_message"]
        ),
        "field": error.get("field"),
        "cause": error.get("cause"),
        "attempts": row["attempts"],
        "backend": row["backend"],
        "backend_version": row["backend_version"],
        "model": row["model"],
        "prompt_version": row["prompt_version"],
        "finished_at": unusable.created_at if unusable else row["finished_at"],
        "file_sha256": row["file_sha256"],
        "key": row["key"],
    }


class Reviews:
    """The store's corrections and letter states, applied to each exported record."""

    def __init__(self, outdir: Path, raw: bool) -> None:
        db = None if raw else open_if_present(outdir)
        self.corrections = db.all_corrections() if db else {}
        self.states = db.all_states() if db else {}
        if db is not None:
            db.close()
        self.stale = 0
        self.corrected = 0

    def state(self, row: Any) -> LetterState | None:
        return self.states.get(letter_ref(row))

    def apply(self, row: Any, rec: dict[str, Any]) -> tuple[dict[str, Any], ReviewInfo]:
        letter = letter_ref(row)
        st = self.states.get(letter)
        cs = self.corrections.get(letter)
        if not cs and st is None:
            return rec, NO_REVIEW
        applied = apply_corrections(rec, cs or [])
        return forget_corrected(applied.record, applied.corrected), ReviewInfo(
            corrected=tuple(sorted(applied.corrected)),
            status=st.status if st and st.status != REOPENED else None,
            reviewer=st.reviewer if st else None,
            stale=len(applied.stale),
        )


def _usable(
    store: Store, backend: str | None, reviews: Reviews
) -> Iterator[tuple[Any, dict[str, Any], ReviewInfo]]:
    for row in store.iter_results(DONE, backend=backend):
        st = reviews.state(row)
        if st is not None and st.status == UNUSABLE:
            continue
        rec, info = reviews.apply(row, json.loads(row["record_json"]))
        yield row, rec, info


def _letters(store: Store, backend: str | None, reviews: Reviews) -> Iterator[dict[str, Any]]:
    for row, rec, info in _usable(store, backend, reviews):
        reviews.stale += info.stale
        reviews.corrected += len(info.corrected)
        yield letter_row(row, rec, info)


def _failures(store: Store, backend: str | None, reviews: Reviews) -> Iterator[dict[str, Any]]:
    for row in store.iter_results(FAILED, backend=backend):
        yield failure_row(row)
    if reviews.states:
        for row in store.iter_results(DONE, backend=backend):
            st = reviews.state(row)
            if st is not None and st.status == UNUSABLE:
                yield failure_row(row, st)


@dataclass
class ExportResult:
    tables: dict[str, tuple[Path, int]]
    corrected_values: int = 0
    stale_corrections: int = 0

    def items(self) -> Any:  # the old dict interface: name -> (path, rows)
        return self.tables.items()

    def __getitem__(self, name: str) -> tuple[Path, int]:
        return self.tables[name]


def export_store(
    outdir: Path,
    fmt: Format,
    *,
    backend: str | None = None,
    dest: Path | None = None,
    raw: bool = False,
    task_writer: TaskWriter | None = None,
) -> ExportResult:
    """Write ``letters``, ``items`` and ``failures`` tables; returns name -> (path, rows).

    By default the values a person corrected in ``llm-extract review`` replace
    the extracted ones (``corrected_fields`` names them) and letters marked
    unusable move to ``failures``; ``raw=True`` writes the extraction as produced.
    ``fmt="label-studio"`` writes Label Studio tasks instead, with
    ``task_writer`` (:func:`llm_extract.review.labelstudio.write_tasks`: the
    review package sits above the batch and is handed in, not imported).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        require_pyarrow()  # fail before writing anything
    dest = dest or Path(outdir) / "export"
    reviews = Reviews(Path(outdir), raw)
    with Store(Path(outdir), writer=False) as store:
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {dest}: {exc.strerror}") from exc
        if fmt == "label-studio":
            if task_writer is None:
                raise ConfigError(
                    "a Label Studio export needs the review package's task writer: "
                    "pass task_writer=llm_extract.review.labelstudio.write_tasks"
                )
            return ExportResult(task_writer(store, dest, backend=backend, reviews=reviews))
        out: dict[str, tuple[Path, int]] = {}
        letters = dest / f"letters.{fmt}"
        out["letters"] = (
            letters,
            write_atomic(letters, fmt, LETTER_COLUMNS, _letters(store, backend, reviews)),
        )
        items = dest / f"items.{fmt}"
        out["items"] = (
            items,
            write_atomic(
                items,
                fmt,
                ITEM_COLUMNS,
                (
                    ir
                    for r, d, info in _usable(store, backend, reviews)
                    for ir in item_rows(r, d, info)
                ),
            ),
        )
        failures = dest / f"failures.{fmt}"
        out["failures"] = (
            failures,
            write_atomic(failures, fmt, FAILURE_COLUMNS, _failures(store, backend, reviews)),
        )
    return ExportResult(out, reviews.corrected, reviews.stale)
