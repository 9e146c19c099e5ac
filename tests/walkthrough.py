"""Run the README's demo walk-through as written: its shell block, against an app in process.

The block is shell: variables, single and double quotes, backslash continuations,
``$(...)`` and pipes into ``python3 -c``. This runs exactly that subset (anything else
fails the test, so the README cannot drift into commands nobody checks): ``curl`` with the
flags the block uses becomes a request to the app, and ``python3 -c`` runs in a real
Python with the previous command's output as its standard input, as in a shell.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- walk-through: tests/test_demo.py runs the next block -->"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def readme_block(marker: str = MARKER, readme: Path = README) -> str:
    """The fenced block right after ``marker`` in the README."""
    text = readme.read_text(encoding="utf-8")
    after = text.split(marker, 1)[1]
    found = re.match(r"\s*```[a-z]*\n(.*?)\n```", after, re.DOTALL)
    assert found, f"no fenced block after {marker!r}"
    return found.group(1)


# A word is a list of parts: literal text, a variable, or a command substitution.
@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Subst:
    commands: list[list[object]]


Part = str | Var | Subst
Word = list[Part]
PIPE = object()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def peek(self, ahead: int = 0) -> str:
        at = self.pos + ahead
        return self.text[at] if at < len(self.text) else ""

    def commands(self, *, nested: bool = False) -> list[list[object]]:
        commands: list[list[object]] = []
        current: list[object] = []
        while True:
            char = self.peek()
            if char == "":
                assert not nested, "unterminated $("
                break
            if char == "\\" and self.peek(1) == "\n":
                self.pos += 2
            elif char in " \t":
                self.pos += 1
            elif char in "\n;":
                self.pos += 1
                if current:
                    commands.append(current)
                    current = []
            elif char == "#" and not current:
                while self.peek() not in ("\n", ""):
                    self.pos += 1
            elif char == "|":
                self.pos += 1
                current.append(PIPE)
            elif char == ")" and nested:
                self.pos += 1
                break
            else:
                current.append(self.word(nested=nested))
        if current:
            commands.append(current)
        return commands

    def dollar(self) -> Part:
        self.pos += 1  # the $
        if self.peek() == "(":
            self.pos += 1
            return Subst(self.commands(nested=True))
        braced = self.peek() == "{"
        if braced:
            self.pos += 1
        name = _NAME.match(self.text, self.pos)
        assert name, f"a lone $ at {self.pos}"
        self.pos = name.end()
        if braced:
            assert self.peek() == "}", "unterminated ${"
            self.pos += 1
        return Var(name.group())

    def word(self, *, nested: bool) -> Word:
        parts: Word = []
        stops = " \t\n;|" + (")" if nested else "")
        while (char := self.peek()) and char not in stops:
            if char == "'":
                end = self.text.index("'", self.pos + 1)
                parts.append(self.text[self.pos + 1 : end])
                self.pos = end + 1
            elif char == '"':
                self.pos += 1
                while (inner := self.peek()) != '"':
                    assert inner, "unterminated double quote"
                    if inner == "\\" and self.peek(1) in '"\\$`\n':
                        if self.peek(1) != "\n":
                            parts.append(self.peek(1))
                        self.pos += 2
                    elif inner == "$":
                        parts.append(self.dollar())
                    else:
                        parts.append(inner)
                        self.pos += 1
                self.pos += 1
            elif char == "\\":
                if self.peek(1) != "\n":
                    parts.append(self.peek(1))
                self.pos += 2
            elif char == "$":
                parts.append(self.dollar())
            else:
                parts.append(char)
                self.pos += 1
        return _joined(parts)


def _joined(parts: Word) -> Word:
    """Adjacent literal characters as one string (an assignment's NAME= is then visible)."""
    joined: Word = []
    for part in parts:
        if isinstance(part, str) and joined and isinstance(joined[-1], str):
            joined[-1] += part
        else:
            joined.append(part)
    return joined


def parse(script: str) -> list[list[object]]:
    """The script's commands; each a list of words and pipes."""
    return _Parser(script).commands()


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    body: str


@dataclass
class Shell:
    """Runs parsed commands; ``curl`` goes to ``client`` (an app in process)."""

    client: httpx.AsyncClient
    variables: dict[str, str] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # what the top-level commands print

    async def run(self, script: str) -> None:
        for command in parse(script):
            printed = await self.command(command)
            if printed:
                self.output.append(printed)

    async def expand(self, word: Word) -> str:
        pieces = []
        for part in word:
            if isinstance(part, Var):
                assert part.name in self.variables, f"${part.name} is not set"
                pieces.append(self.variables[part.name])
            elif isinstance(part, Subst):
                printed = ""
                for command in part.commands:
                    printed = await self.command(command)
                pieces.append(printed.rstrip("\n"))  # as the shell strips trailing newlines
            else:
                pieces.append(part)
        return "".join(pieces)

    async def command(self, command: list[object]) -> str:
        """Run one command (an assignment or a pipeline); return what it prints."""
        first = command[0]
        assert isinstance(first, list)
        head = first[0] if first else ""
        assignment = _NAME.match(head) if isinstance(head, str) else None
        if assignment and len(command) == 1 and head[assignment.end() :].startswith("="):
            name = assignment.group()
            rest = [head[assignment.end() + 1 :], *first[1:]]
            self.variables[name] = await self.expand(rest)
            return ""
        stdin = b""
        stage: list[str] = []
        stages: list[list[str]] = [stage]
        for token in command:
            if token is PIPE:
                stage = []
                stages.append(stage)
            else:
                assert isinstance(token, list)
                stage.append(await self.expand(token))
        for argv in stages:
            stdin = await self.program(argv, stdin)
        return stdin.decode()

    async def program(self, argv: list[str], stdin: bytes) -> bytes:
        if argv[0] == "curl":
            return await self.curl(argv[1:])
        if argv[:2] == ["python3", "-c"] and len(argv) == 3:
            # The README's own snippet, in a real Python, as a shell runs it.
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                argv[2],
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate(stdin)
            assert process.returncode == 0, f"python3 -c {argv[2]!r} failed: {err.decode()}"
            return out
        raise AssertionError(f"the walk-through may run curl and python3 -c only, not {argv[0]}")

    async def curl(self, args: list[str]) -> bytes:
        method, url, data, include, write_out = None, None, None, False, ""
        headers: list[tuple[str, str]] = []
        values = iter(args)
        for arg in values:
            if arg in ("-s", "--silent"):
                continue
            if arg in ("-i", "--include") or arg == "-si":
                include = True
            elif arg in ("-X", "--request"):
                method = next(values)
            elif arg in ("-H", "--header"):
                name, value = next(values).split(":", 1)
                headers.append((name.strip(), value.strip()))
            elif arg in ("-d", "--data"):
                data = next(values)
            elif arg in ("-w", "--write-out"):
                write_out = next(values)
                assert re.fullmatch(r"[^%\\]*(\\n)?", write_out), f"-w {write_out!r}"
            elif not arg.startswith("-") and url is None:
                url = arg
            else:
                raise AssertionError(f"curl {arg} is not something the walk-through may use")
        assert url is not None, "curl without a URL"
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        method = method or ("POST" if data is not None else "GET")
        if data is not None and not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))  # curl's
        response = await self.client.request(
            method, path, headers=headers, content=None if data is None else data.encode()
        )
        self.exchanges.append(Exchange(method, path, response.status_code, response.text))
        # -w: curl writes it after the body; the block uses only plain text and \n.
        written = response.content + write_out.replace("\\n", "\n").encode()
        if not include:
            return written
        head = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
        head += [f"{name}: {value}" for name, value in response.headers.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + written
