"""Run every benchmark in this folder, one after another (they would skew each other)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    failed = []
    here = Path(__file__).parent
    # relay against itself first, then relay against its peers (`make bench-setup` installs them)
    for script in [*sorted(here.glob("bench_*.py")), here / "peers.py"]:
        print(f"\n=== {script.name} ===", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
