"""Load and render the versioned prompt files in ``prompts/`` (package ``llm_extract.prompts``).

A prompt file is markdown with two parts, marked ``<!-- role: system -->`` and
``<!-- role: user -->``.  The system part is the instruction prefix: it never
contains letter text, so it is byte-identical across letters and llama.cpp's
prompt cache reuses it.  The user part is a :class:`string.Template`
(``$name``) into which the letter-specific text is put, last.

The prompt set has one version, in ``prompts/VERSION``; it is recorded in every
record's ``provenance.prompt_version``.  Change a prompt, bump the version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

from ..errors import ConfigError

_PACKAGE = "llm_extract.prompts"
_ROLE = re.compile(r"^<!--\s*role:\s*(system|user)\s*-->\s*$", re.M)


@dataclass(frozen=True)
class Prompt:
    name: str
    system: str
    user: Template

    def messages(self, **values: str) -> list[dict[str, str]]:
        """Chat messages: the fixed instruction prefix, then the letter-specific text."""
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user.substitute(values)},
        ]


def _read(name: str) -> str:
    try:
        return resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"prompt file {name!r} is missing from the installed package {_PACKAGE}; "
            "reinstall llm-extract",
            cause=exc,
        ) from exc


@cache
def prompt_version() -> str:
    return _read("VERSION").strip()


@cache
def load_prompt(name: str) -> Prompt:
    """``load_prompt("items")`` reads ``prompts/items.md``."""
    text = _read(f"{name}.md")
    parts = _ROLE.split(text)
    # parts = [preamble, role, body, role, body]
    roles = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(roles) != {"system", "user"}:
        raise ConfigError(f"prompt file {name}.md needs one system and one user part")
    return Prompt(name=name, system=roles["system"], user=Template(roles["user"]))
