"""Label Studio, for teams that review there: tasks out, annotations back in as corrections.

``llm-extract export OUTDIR --format label-studio`` writes

- ``label-studio.json``: one task per extracted letter, in Label Studio's
  task format (``data`` + ``predictions``): ``data.text`` is the letter text
  the spans point into, ``data.key`` / ``data.letter_id`` name the letter;
  the prediction holds the extraction (corrections applied) as
  *pre-annotations*: one ``labels`` region per evidence span (its label is the
  field path) and one ``textarea`` per field with its value (a list field one
  line per element);
- ``label-studio-config.xml``: the labelling interface those results refer to
  (paste it into the project's *Labeling Interface*): the text, an
  ``evidence`` label per field, and a text area per field.

``llm-extract review OUTDIR --import-label-studio FILE`` reads Label Studio's
JSON export (a list of tasks with ``annotations``) back: for each task's last
submitted annotation, every text area whose value differs from the current
value becomes a correction (``origin`` ``label-studio``), typed and validated
by the models like an edit in the review page; a field the prediction had and
the annotation deleted is cleared; the letter is marked reviewed.  A value
that does not validate is reported and skipped, the rest still imported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from ..batch.corrections import REVIEWED, UNUSABLE, ReviewDB, apply_corrections, letter_ref
from ..batch.store import DONE, Store
from ..errors import InputError
from ..field_paths import get_path
from .paths import field_specs, parse_input, validate_value
from .text import field_spans, letter_text

EVIDENCE = "evidence"
TEXT = "text"


def control_name(path: str) -> str:
    """A field path as a Label Studio control name: ``items[0].medication.name`` ->
    ``items_0__medication__name`` (mapped back through the record's own paths)."""
    return path.replace("[", "_").replace("]", "").replace(".", "__")


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def task_for(row: Any, record: dict[str, Any], text: str | None) -> dict[str, Any]:
    """One Label Studio task with the record as its prediction."""
    results: list[dict[str, Any]] = []
    if text is not None:
        for fld, spans in field_spans(record).items():
            for n, (start, end) in enumerate(spans):
                results.append(
                    {
                        "id": f"ev-{control_name(fld)}-{n}",
                        "from_name": EVIDENCE,
                        "to_name": TEXT,
                        "type": "labels",
                        "value": {
                            "start": start,
                            "end": end,
                            "text": text[start:end],
                            "labels": [fld],
                        },
                    }
                )
    for spec in field_specs(record):
        lines = _lines(get_path(record, spec.path))
        if lines:
            name = control_name(spec.path)
            results.append(
                {
                    "id": f"v-{name}",
                    "from_name": name,
                    "to_name": TEXT,
                    "type": "textarea",
                    "value": {"text": lines},
                }
            )
    prov = record.get("provenance") or {}
    version = " ".join(
        str(x) for x in (prov.get("backend"), prov.get("backend_version"), prov.get("model")) if x
    )
    return {
        "data": {
            TEXT: text or "",
            "letter_id": row["letter_id"],
            "key": row["key"],
            "file_sha256": row["file_sha256"],
            "source_file": row["source_path"],
        },
        "predictions": [
            {
                "model_version": version or "llm-extract",
                "score": 0.0 if record.get("needs_review") else 1.0,
                "result": results,
            }
        ],
    }


def label_config(paths: list[str]) -> str:
    """The labelling interface for the tasks' field paths (in order)."""
    lines = ["<View>", f'  <Labels name="{EVIDENCE}" toName="{TEXT}">']
    lines += [f"    <Label value={quoteattr(p)}/>" for p in paths]
    lines += ["  </Labels>", f'  <Text name="{TEXT}" value="${TEXT}"/>']
    for p in paths:
        lines.append(f'  <Header value={quoteattr(p)} size="6"/>')
        lines.append(
            f'  <TextArea name={quoteattr(control_name(p))} toName="{TEXT}" '
            'editable="true" rows="1"/>'
        )
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def write_tasks(
    store: Store, dest: Path, *, backend: str | None = None, reviews: Any = None
) -> dict[str, tuple[Path, int]]:
    """Write ``label-studio.json`` and ``label-studio-config.xml`` into ``dest``."""
    tasks_path = dest / "label-studio.json"
    config_path = dest / "label-studio-config.xml"
    db = ReviewDB(store.outdir)
    paths: dict[str, None] = {}
    n = 0
    tmp = tasks_path.with_name(f".{tasks_path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write("[\n")
            for row in store.iter_results(DONE, backend=backend):
                record = json.loads(row["record_json"])
                if reviews is not None:
                    st = reviews.state(row)
                    if st is not None and st.status == UNUSABLE:
                        continue
                    record, _info = reviews.apply(row, record)
                text = letter_text(db, row, record)
                task = task_for(row, record, text.text if text.problem is None else None)
                for spec in field_specs(record):
                    paths.setdefault(spec.path)
                fh.write((",\n" if n else "") + json.dumps(task, ensure_ascii=False))
                n += 1
            fh.write("\n]\n")
        os.replace(tmp, tasks_path)
    finally:
        tmp.unlink(missing_ok=True)
        db.close()
    config_path.write_text(label_config(list(paths)), encoding="utf-8")
    return {"tasks": (tasks_path, n), "config": (config_path, len(paths))}


# --- import ------------------------------------------------------------------
@dataclass
class ImportSummary:
    letters: int = 0
    corrections: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)


def _last_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not done:
        return None
    return max(done, key=lambda a: (str(a.get("updated_at") or ""), done.index(a)))


def import_label_studio(db: ReviewDB, path: Path, *, reviewer: str) -> ImportSummary:
    try:
        tasks = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the Label Studio export {path}: {exc}") from exc
    if not isinstance(tasks, list):
        raise InputError(f"{path}: not a Label Studio JSON export (expected a list of tasks)")
    summary = ImportSummary()
    for task in tasks:
        data = task.get("data") or {}
        key = str(data.get("key") or "")
        label = data.get("letter_id") or key or "(task without a key)"
        row = db.result(key) if key else None
        if row is None or not row["record_json"]:
            summary.problems.append(f"{label}: no extracted letter with this key in the store")
            continue
        ann = _last_annotation(task)
        if ann is None:
            continue
        who = str(ann.get("completed_by") or reviewer)
        who = reviewer if who.isdigit() else who  # Label Studio exports a user id
        record = json.loads(row["record_json"])
        current = apply_corrections(record, db.corrections(letter_ref(row))).record
        specs = {control_name(s.path): s for s in field_specs(current)}
        given: dict[str, list[str]] = {}
        for res in ann.get("result") or []:
            if res.get("type") == "textarea" and res.get("from_name") in specs:
                given[res["from_name"]] = [
                    str(t) for t in (res.get("value") or {}).get("text") or []
                ]
        if not given:
            continue
        for name, spec in specs.items():
            before = get_path(current, spec.path)
            if name not in given and not _lines(before):
                continue
            lines = given.get(name, [])
            raw = lines if spec.kind == "enum_list" else ["\n".join(lines)]
            try:
                value = parse_input(spec, raw)
                current, value = validate_value(current, spec.path, value)
            except ValueError as exc:
                summary.problems.append(f"{label}: {exc}")
                continue
            if value == before:
                summary.unchanged += 1
                continue
            db.add_correction(key, spec.path, value, reviewer=who, origin="label-studio")
            summary.corrections += 1
        db.set_state(key, REVIEWED, reviewer=who, note="imported from Label Studio")
        summary.letters += 1
    return summary
