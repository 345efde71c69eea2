"""The machine and software a result was measured on, and the process's resources.

`environment()` is the fingerprint stored once per result set (results.json `environment`),
keyed by its `id`: CPU model, cores, instruction-set flags, OS, Python and library versions.
Cells refer to it by id instead of each carrying a copy.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.threads import THREAD_WAITS

_PACKAGES = (
    "harness",
    "numpy",
    "scipy",
    "bm25s",
    "PyStemmer",
    "pytrec-eval-terrier",
    "ir-measures",
    "pydantic",
    "ir-datasets",
    "sentence-transformers",
    "faiss-cpu",
    "onnxruntime",
    "torch",
)


def package_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit(where: Path) -> str | None:
    try:
        res = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    return res.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


# Instruction-set extensions that change the speed of numeric kernels (BLAS, faiss, onnxruntime).
_FLAGS = (
    "sse4_1",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "bmi2",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "sve",
    "sve2",
    "asimddp",
    "asimdhp",
)


def peak_rss_bytes() -> int | None:
    """The process's resident-set high-water mark (includes everything it did before)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def current_rss_bytes() -> int | None:
    """Resident memory now (Linux /proc), or None where unknown."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
        return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor's block is enough
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def environment() -> dict[str, Any]:
    """A copy of `_environment()`, computed once per process."""
    return json.loads(json.dumps(_environment()))  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=1)
def _environment() -> dict[str, Any]:
    """CPU model, cores, instruction-set flags, OS, Python and library versions.

    `id` is a short hash of everything else: two measurements with the same id ran on the
    same kind of machine with the same software.
    """
    cpu = _cpuinfo()
    flags = set((cpu.get("flags") or cpu.get("Features") or "").split())
    env: dict[str, Any] = {
        "cpu": cpu.get("model name") or platform.processor() or platform.machine() or "unknown",
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "isa": [f for f in _FLAGS if f in flags],
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": package_versions(),
        # how idle threads wait (harness.threads): spinning ones inflate latency on a shared machine
        "thread_waits": {var: os.environ.get(var) for var in ("OMP_WAIT_POLICY", *THREAD_WAITS)},
    }
    env["id"] = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:12]
    return env
