#!/usr/bin/env python3
"""Replace the text between <!-- NAME:begin --> and <!-- NAME:end --> in DOC
with the contents of FILE: how benchmark scripts refresh their section."""
import sys

doc, name, path = sys.argv[1:]
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
text = open(doc).read()
i, j = text.index(begin), text.index(end)
section = open(path).read().strip()
open(doc, "w").write(text[: i + len(begin)] + "\n" + section + "\n" + text[j:])
