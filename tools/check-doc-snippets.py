#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that a document quotes code that exists: every ```cpp and ```cmake block of DOC must appear verbatim, as
whole consecutive lines, in one file under DIR. So a guide cannot drift from the example it quotes: change either
side alone and this fails, naming the block.

    tools/check-doc-snippets.py DOC DIR            exit 0: every block found; 1: the missing blocks are listed
    tools/check-doc-snippets.py --self-test DOC DIR
        exit 0 when the check passes on DOC and DIR, and fails for every block once that block is changed in a copy
        of DOC, and again once the file that holds it is changed in a copy of DIR; 1 otherwise.

Blocks may be indented (inside a list): the fence's indentation is removed from each of their lines. Other fenced
blocks (```sh, ```json, ```) are not checked.
"""
import pathlib
import re
import shutil
import sys
import tempfile

CHECKED = ("cpp", "cmake")
FENCE = re.compile(r"^( *)```(\S*)\s*$")


def blocks(text):
    """[(line number of the opening fence, language, [lines])] of the checked blocks of a Markdown text."""
    found, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2), i
        body, i = [], i + 1
        while i < len(lines) and lines[i].strip() != "```":
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip(" "))
            i += 1
        if i == len(lines):
            raise ValueError(f"line {start + 1}: the ```{lang} block is not closed")
        i += 1
        if lang in CHECKED:
            found.append((start + 1, lang, body))
    return found


def sources(root):
    """{path: [lines]} of the text files under root."""
    files = {}
    for path in sorted(pathlib.Path(root).rglob("*")):
        if path.is_file():
            try:
                files[path] = path.read_text(encoding="utf-8").split("\n")
            except UnicodeDecodeError:
                continue
    return files


def where(block, files):
    """(path, 1-based line) of the first file holding block as consecutive whole lines, or None."""
    n = len(block)
    for path, lines in files.items():
        for i in range(len(lines) - n + 1):
            if lines[i] == block[0] and lines[i:i + n] == block:
                return path, i + 1
    return None


def check(doc, root):
    """The problems, one message per block not found (empty when every block is found)."""
    text = pathlib.Path(doc).read_text(encoding="utf-8")
    files = sources(root)
    problems = []
    for line, lang, body in blocks(text):
        if not any(l.strip() for l in body):
            problems.append(f"{doc}:{line}: the ```{lang} block is empty")
        elif where(body, files) is None:
            first = next(l for l in body if l.strip())
            problems.append(f"{doc}:{line}: this ```{lang} block is not in any file under {root} "
                            f"(as whole consecutive lines); it starts with: {first.strip()}")
    return problems


def self_test(doc, root):
    failures = []
    problems = check(doc, root)
    if problems:
        return ["the check does not pass on the real files:"] + problems
    found = blocks(pathlib.Path(doc).read_text(encoding="utf-8"))
    for lang in CHECKED:
        if not any(b[1] == lang for b in found):
            failures.append(f"{doc} has no ```{lang} block: nothing of that kind is checked")
    files = sources(root)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        doc_lines = pathlib.Path(doc).read_text(encoding="utf-8").split("\n")
        for line, lang, body in found:
            # One side changed: the block's last non-empty line in the document...
            k = max(j for j, l in enumerate(body) if l.strip())
            changed = list(doc_lines)
            changed[line + k] += " // drift"
            copy = tmp / "doc.md"
            copy.write_text("\n".join(changed), encoding="utf-8")
            if not any(f":{line}:" in p for p in check(copy, root)):
                failures.append(f"{doc}:{line}: changing the ```{lang} block in the document is not detected")
            # ... or the same line in the example's file.
            path, at = where(body, files)
            tree = tmp / "tree"
            shutil.rmtree(tree, ignore_errors=True)
            shutil.copytree(root, tree)
            target = tree / path.relative_to(root)
            lines = target.read_text(encoding="utf-8").split("\n")
            lines[at - 1 + k] += " // drift"
            target.write_text("\n".join(lines), encoding="utf-8")
            # Other identical copies of the block elsewhere in the tree would still match: change them all.
            for _ in range(100):
                other = where(body, sources(tree))
                if other is None:
                    break
                o_lines = other[0].read_text(encoding="utf-8").split("\n")
                o_lines[other[1] - 1 + k] += " // drift"
                other[0].write_text("\n".join(o_lines), encoding="utf-8")
            if not any(f":{line}:" in p for p in check(doc, tree)):
                failures.append(f"{doc}:{line}: changing the ```{lang} block in {path} is not detected")
    if not failures:
        print(f"self-test: {len(found)} blocks, each change detected on either side")
    return failures


def main(argv):
    args = argv[1:]
    test = bool(args) and args[0] == "--self-test"
    if test:
        args = args[1:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    doc, root = args
    try:
        problems = self_test(doc, root) if test else check(doc, root)
    except (OSError, ValueError) as e:
        print(f"{sys.argv[0]}: {e}", file=sys.stderr)
        return 1
    for p in problems:
        print(p, file=sys.stderr)
    if not problems and not test:
        print(f"{doc}: every ```cpp and ```cmake block is in {root}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
