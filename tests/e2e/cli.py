"""Drive the `ledger` command as a subprocess, as an operator or an auditor would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

LEDGER = str(Path(sys.executable).parent / "ledger")


def run(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    environment.update(env or {})
    result = subprocess.run([LEDGER, *args], cwd=cwd, env=environment, input=stdin, text=True,
                            capture_output=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"ledger {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def run_json(cwd: Path, *args: str, **kw: Any) -> Any:
    return json.loads(run(cwd, *args, "--format", "json", **kw).stdout)
