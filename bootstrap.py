#!/usr/bin/env python3
"""The two set-up commands of README.md, needing nothing but Python 3.11+.

    python3 bootstrap.py demo   # venv, install, migrate, demo data, web + worker + beat
    python3 bootstrap.py test   # venv, install, the whole test suite (PostgreSQL + Redis)

Installs are skipped when the pinned requirement files have not changed since the last run.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"


def run(*args: str, env: dict | None = None) -> None:
    subprocess.run(args, cwd=ROOT, check=True, env={**os.environ, **(env or {})})


def ensure_venv(requirement_files: list[str]) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - bootstrap runs on whatever python3 the machine has
        sys.exit("Python 3.11 or newer is needed.")
    if not PY.exists():
        print("Creating the virtual environment in .venv …", flush=True)
        run(sys.executable, "-m", "venv", str(VENV))
        run(str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    digest = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in requirement_files)).hexdigest()
    marker = VENV / f".installed-{'-'.join(Path(f).stem for f in requirement_files)}"
    if marker.exists() and marker.read_text() == digest:
        return
    print(f"Installing {', '.join(requirement_files)} …", flush=True)
    args = [str(PY), "-m", "pip", "install", "--quiet"]
    for f in requirement_files:
        args += ["-r", f]
    run(*args)
    marker.write_text(digest)


def demo(extra: list[str]) -> None:
    ensure_venv(["requirements.txt"])
    port = os.environ.get("PORT", "8000")
    env = {"DEBUG": os.environ.get("DEBUG", "true"), "SITE_URL": f"http://127.0.0.1:{port}", "PORT": port}
    run(str(PY), "manage.py", "migrate", "--no-input", env=env)
    run(str(PY), "manage.py", "seed_demo", *extra, env=env)
    print(
        f"\nThe registry is starting at http://127.0.0.1:{port}/  (Ctrl-C stops web, worker and beat)\n"
        f"Emails go to {ROOT / 'var' / 'outbox'}\n",
        flush=True,
    )
    os.execve(
        str(VENV / "bin" / "honcho"),
        ["honcho", "-f", "Procfile.dev", "start"],
        {**os.environ, **env, "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}", "PYTHONUNBUFFERED": "1"},
    )


def test(extra: list[str]) -> None:
    ensure_venv(["requirements.txt", "requirements-dev.txt"])
    result = subprocess.run([str(PY), "-m", "pytest", *extra], cwd=ROOT)
    sys.exit(result.returncode)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test"}:
        sys.exit(__doc__)
    {"demo": demo, "test": test}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
