"""Print the exact pins of environment.yml's pip section as a pip constraints file.

Runs before anything is installed, so it uses only the standard library.
Usage: python tools/constraints_from_env.py environment.yml > constraints.txt
"""

import re
import sys

PIN = re.compile(r"^\s*-\s+([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)\s*$")


def pins(text: str) -> list[str]:
    """Return 'name==version' for every exactly pinned entry."""
    return [f"{m[1]}=={m[2]}" for m in map(PIN.match, text.splitlines()) if m]


if __name__ == "__main__":
    found = pins(open(sys.argv[1], encoding="utf-8").read())
    if not found:
        sys.exit(f"no '- name==version' pins found in {sys.argv[1]}")
    print("\n".join(found))
