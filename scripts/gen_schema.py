"""Regenerate schemas/record.schema.json from the pydantic models.

python scripts/gen_schema.py          # write
python scripts/gen_schema.py --check  # exit 1 when the checked-in file drifted
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from llm_extract.models import record_json_schema

TARGET = Path(__file__).resolve().parent.parent / "schemas" / "record.schema.json"


def render() -> str:
    return json.dumps(record_json_schema(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run python scripts/gen_schema.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
