#!/usr/bin/env python3
"""The code's shape limits: no production file over 600 lines, no
production function over 80 lines. Test code (tests/ folders, benches,
fuzz targets and `#[cfg(test)]` modules) is left out.

    scripts/check-shape.py            # list what is over; exit 1 if any
    scripts/check-shape.py --top 20   # the longest functions, over or not
"""
import argparse
import pathlib
import re
import sys

FILE_LIMIT = 600
FN_LIMIT = 80
ROOT = pathlib.Path(__file__).resolve().parent.parent
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def production_lines(text):
    """The file's lines with `#[cfg(test)]` items blanked out."""
    lines = text.split("\n")
    out = list(lines)
    i = 0
    while i < len(lines):
        if lines[i].strip() == "#[cfg(test)]":
            j, depth, opened = i + 1, 0, False
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                opened |= "{" in lines[j]
                if opened and depth <= 0 or not opened and lines[j].rstrip().endswith(";"):
                    break
                j += 1
            for k in range(i, min(j + 1, len(lines))):
                out[k] = None
            i = j
        i += 1
    return out


def functions(lines):
    """(name, first line, length) of each fn with a body."""
    found = []
    for i, line in enumerate(lines):
        if line is None:
            continue
        m = FN.match(line)
        if not m:
            continue
        depth, opened, j = 0, False, i
        while j < len(lines) and lines[j] is not None:
            code = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j].split("//")[0])
            if not opened and code.rstrip().endswith(";") and "{" not in code:
                break
            depth += code.count("{") - code.count("}")
            opened |= "{" in code
            if opened and depth <= 0:
                found.append((m.group(6), i + 1, j - i + 1))
                break
            j += 1
    return found


def sources():
    for top in ("crates", "bin"):
        for p in sorted((ROOT / top).rglob("*.rs")):
            parts = p.relative_to(ROOT).parts
            if "tests" in parts or "benches" in parts or "target" in parts:
                continue
            yield p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", type=int, default=0)
    args = ap.parse_args()
    over, all_fns = [], []
    for p in sources():
        lines = production_lines(p.read_text())
        rel = p.relative_to(ROOT)
        n = sum(1 for l in lines if l is not None and l.strip())
        if n > FILE_LIMIT:
            over.append(f"{rel}: {n} non-blank production lines (limit {FILE_LIMIT})")
        for name, line, length in functions(lines):
            all_fns.append((length, f"{rel}:{line} {name}"))
            if length > FN_LIMIT:
                over.append(f"{rel}:{line}: fn {name} is {length} lines (limit {FN_LIMIT})")
    for length, where in sorted(all_fns, reverse=True)[: args.top]:
        print(f"{length:4} {where}")
    for o in over:
        print(o)
    if over:
        print(f"{len(over)} over the limits", file=sys.stderr)
        return 1
    print(f"shape ok: {len(all_fns)} functions, none over {FN_LIMIT} lines; no file over {FILE_LIMIT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
