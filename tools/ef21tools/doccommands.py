"""The shell commands of a markdown page: what tests/e2e/docs_test.sh runs.

A fenced block is a command block unless its info string names a non-shell language (```text for
program output, ```json, ...): ``` and ```sh / ```bash / ```console blocks hold commands. In a
command block every line is one command, except that a line ending in a backslash continues on the
next, and blank and comment-only lines are skipped. Standard library only.
"""

import re

SHELL_LANGUAGES = ("", "sh", "bash", "shell", "console")
FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)")


class Command:
    """One command: its page, the line it starts on, and its text (continuations joined)."""

    def __init__(self, page, line, text):
        self.page = page
        self.line = line
        self.text = text

    def __repr__(self):
        return f"{self.page}:{self.line}: {self.text}"


def blocks(markdown):
    """(first line number, language, [lines]) of every fenced block, in order."""
    found, open_fence, lang, start, body = [], None, "", 0, []
    for n, line in enumerate(markdown.splitlines(), 1):
        m = FENCE.match(line.strip())
        if open_fence is None:
            if m:
                open_fence, lang, start, body = m.group(1), m.group(2).lower(), n + 1, []
        elif m and line.strip().startswith(open_fence) and not m.group(2):
            found.append((start, lang, body))
            open_fence = None
        else:
            body.append(line)
    if open_fence is not None:
        raise ValueError(f"fenced block opened on line {start - 1} is never closed")
    return found


def commands(markdown, page="?"):
    """Every command of the page's shell blocks, continuation lines joined with one space."""
    out = []
    for start, lang, body in blocks(markdown):
        if lang not in SHELL_LANGUAGES:
            continue
        pending, first = None, 0
        for offset, line in enumerate(body):
            stripped = line.strip()
            if pending is None:
                if not stripped or stripped.startswith("#"):
                    continue
                first, pending = start + offset, ""
            continued = stripped.endswith("\\")
            pending += (" " if pending else "") + (stripped[:-1].rstrip() if continued else stripped)
            if not continued:
                out.append(Command(page, first, pending))
                pending = None
        if pending is not None:
            out.append(Command(page, first, pending))
    return out


def text_blocks(markdown):
    """The bodies of ```text blocks (program output shown on the page), in order."""
    return [body for _, lang, body in blocks(markdown) if lang == "text"]
