"""The catalogues keep up with the code, and the negotiation and lazy messages behave.

Babel extracts the marked messages (``msg(...)``, ``N_(...)``) from app/ here, as
``make messages`` does, and compares them with app/locale: a message without an Italian
translation, a fuzzy or empty entry, or a stale template fails with the msgid, where the code
uses it, and how to fix it (app/core/i18n.py's docstring, README "Languages").
"""

from __future__ import annotations

import ast
import pickle
from collections import defaultdict
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from app.core import i18n
from app.core.errors import DomainError, NotFound
from app.core.i18n import Joined, Message, msg, negotiate, placeholders

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
POT = i18n.LOCALE_DIR / f"{i18n.DOMAIN}.pot"
HOW_TO_FIX = (
    "Fix: run `make messages` (pybabel extract + update), translate the entry in "
    "app/locale/it/LC_MESSAGES/wecare.po (formal Italian; the same {placeholders} as the "
    "msgid), delete its '#, fuzzy' line, and run `make messages` again."
)


def extracted() -> dict[str, list[str]]:
    """Every marked msgid in app/, with where it is used (as ``make messages`` extracts)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found: dict[str, list[str]] = defaultdict(list)
    for filename, lineno, message, _comments, _context in extract_from_dir(
        APP,
        method_map,
        options_map,
        keywords=dict.fromkeys(("msg", "N_")),
    ):
        assert isinstance(message, str), f"app/{filename}:{lineno}: a plural or context message"
        found[message].append(f"app/{filename}:{lineno}")
    return found


def catalogue(language: str) -> Catalog:
    path = i18n.LOCALE_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with path.open("rb") as po:
        return read_po(po, locale=language, domain=i18n.DOMAIN)


@pytest.fixture(scope="module")
def in_code() -> dict[str, list[str]]:
    return extracted()


class TestCatalogues:
    @pytest.mark.parametrize("language", i18n.SUPPORTED_LANGUAGES)
    def test_every_message_in_the_code_is_translated(
        self, in_code: dict[str, list[str]], language: str
    ) -> None:
        entries = {str(m.id): m for m in catalogue(language) if m.id}
        problems = []
        for msgid, where in sorted(in_code.items()):
            entry = entries.get(msgid)
            if entry is None:
                problems.append(f"missing:  {msgid!r}  (used at {', '.join(where)})")
            elif not entry.string:
                problems.append(f"empty:    {msgid!r}  (used at {', '.join(where)})")
            elif entry.fuzzy:
                problems.append(f"fuzzy:    {msgid!r}  (used at {', '.join(where)})")
        assert not problems, (
            f"{len(problems)} message(s) lack a {language} translation in "
            f"app/locale/{language}/LC_MESSAGES/wecare.po:\n  "
            + "\n  ".join(problems)
            + "\n"
            + HOW_TO_FIX
        )

    @pytest.mark.parametrize("language", i18n.SUPPORTED_LANGUAGES)
    def test_translations_keep_the_placeholders(self, language: str) -> None:
        wrong = [
            f"{m.id!r} -> {m.string!r}"
            for m in catalogue(language)
            if m.id and m.string and placeholders(str(m.id)) != placeholders(str(m.string))
        ]
        assert not wrong, "translations whose {placeholders} differ from the msgid:\n" + "\n".join(
            wrong
        )

    def test_english_is_the_identity(self) -> None:
        changed = [str(m.id) for m in catalogue("en") if m.id and m.string != m.id]
        assert not changed, f"English entries differ from their msgid: {changed}"

    def test_the_template_is_up_to_date(self, in_code: dict[str, list[str]]) -> None:
        with POT.open("rb") as pot:
            template = {str(m.id) for m in read_po(pot) if m.id}
        new = sorted(set(in_code) - template)
        gone = sorted(template - set(in_code))
        assert not new, f"app/locale/wecare.pot lacks {new}. Run `make messages`."
        assert not gone, f"app/locale/wecare.pot has msgids no longer in the code: {gone}. " + (
            "Run `make messages`."
        )

    @pytest.mark.parametrize("language", i18n.SUPPORTED_LANGUAGES)
    def test_no_entry_outlives_its_message(
        self, in_code: dict[str, list[str]], language: str
    ) -> None:
        stale = sorted({str(m.id) for m in catalogue(language) if m.id} - set(in_code))
        assert not stale, f"{language}: entries the code no longer uses: {stale}. " + (
            "Run `make messages` (it drops them)."
        )

    def test_every_problem_title_is_catalogued(self) -> None:
        untranslated = sorted(
            f"{cls.__module__}.{cls.__qualname__}: {cls.title!r}"
            for cls in _subclasses(DomainError)
            if cls.title not in i18n.catalogue("it")
        )
        assert not untranslated, (
            "problem titles not marked with N_(...) or not translated:\n"
            + "\n".join(untranslated)
            + "\n"
            + HOW_TO_FIX
        )

    def test_raise_sites_pass_marked_messages(self) -> None:
        """A DomainError built with a plain string or an f-string would answer in English
        whatever the request asked: its detail must be a ``msg(...)``."""
        names = {cls.__name__ for cls in _subclasses(DomainError)} | {"Violation"}
        index = {"Violation": 1}
        unmarked = []
        for path in sorted(APP.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = getattr(func, "id", None) or getattr(func, "attr", None)
                position = index.get(name or "", 0)
                if name not in names or len(node.args) <= position:
                    continue
                detail = node.args[position]
                if isinstance(detail, ast.JoinedStr) or (
                    isinstance(detail, ast.Constant) and isinstance(detail.value, str)
                ):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    unmarked.append(f"{where}: {name}({ast.unparse(detail)[:80]} ...)")
        assert not unmarked, (
            "details given as plain strings (English only): write them as "
            'msg("Template with {name}.", name=value) (app/core/i18n.py):\n'
            + "\n".join(unmarked)
            + "\nthen "
            + HOW_TO_FIX
        )


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    found: list[type[DomainError]] = []
    pending = [cls]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(current.__subclasses__())
    return found


class TestMessages:
    def test_a_message_is_its_english_text(self) -> None:
        message = msg("No programme {programme_id}.", programme_id=7)
        assert message == "No programme 7."
        assert str(NotFound(message)) == "No programme 7."
        assert message.in_language("en") == "No programme 7."
        assert message.in_language("it") == "Programma 7 inesistente."

    def test_format_specs_and_nested_messages(self) -> None:
        delay = msg(
            "The database did not answer within {READINESS_TIMEOUT_SECONDS:g} seconds.",
            READINESS_TIMEOUT_SECONDS=2.0,
        )
        assert delay == "The database did not answer within 2 seconds."
        assert delay.in_language("it") == "Il database non ha risposto entro 2 secondi."
        noun = msg("No {noun} {ident}.", noun=msg("measure"), ident="X")
        assert noun.in_language("it") == "Risorsa inesistente: misura X."

    def test_joined_messages_translate_each_part(self) -> None:
        joined = Joined(" ", [msg("Apply through one of the lines."), "plain"])
        assert joined == "Apply through one of the lines. plain"
        assert joined.in_language("it") == "Presentare la domanda tramite una delle linee. plain"

    def test_an_uncatalogued_message_stays_english(self) -> None:
        assert msg("Not in any catalogue {x}.", x=1).in_language("it") == (
            "Not in any catalogue 1."
        )
        assert i18n.gettext("plain text", "it") == "plain text"

    def test_messages_survive_pickling(self) -> None:
        message = msg("No programme {programme_id}.", programme_id=7)
        copy = pickle.loads(pickle.dumps(message))
        assert isinstance(copy, Message)
        assert copy.in_language("it") == "Programma 7 inesistente."


class TestNegotiation:
    @pytest.mark.parametrize(
        ("header", "language"),
        [
            (None, "it"),
            ("", "it"),
            ("en", "en"),
            ("it", "it"),
            ("EN", "en"),
            # RFC 4647 lookup: a region (or script) subtag falls back to its language.
            ("en-GB", "en"),
            ("it-IT", "it"),
            ("en-Latn-GB", "en"),
            # Weights, not order, decide; ties keep their order.
            ("en;q=0.5, it;q=0.9", "it"),
            ("it;q=0.4, en", "en"),
            ("en, it", "en"),
            ("fr-FR, fr;q=0.9, en;q=0.8, it;q=0.7", "en"),
            ("fr, de", "it"),  # nothing supported: the default
            # q=0 refuses.
            ("en;q=0", "it"),
            ("it;q=0", "en"),
            ("it;q=0, en;q=0", "it"),
            ("en;q=0, *", "it"),
            ("it;q=0, *", "en"),
            ("it;q=0.000, en;q=0.001", "en"),
            # The wildcard is any language: the default first.
            ("*", "it"),
            ("fr, *;q=0.5", "it"),
            ("*;q=0.1, en", "en"),
            # Malformed ranges are skipped; a header of nothing else is the default.
            ("garbage;;;", "it"),
            ("en;q=2", "it"),
            ("en;q=abc", "it"),
            ("e n", "it"),
            ("12345", "it"),
            ("\x00\x01", "it"),
            (";q=1", "it"),
            (",,,", "it"),
            ("en-", "it"),
            ("toolongtag", "it"),
            ("garbage;;;, en", "en"),
            ("x" * 10_000, "it"),
            ("fr, " * 100 + "en", "it"),  # only the first ranges of an abusive header count
        ],
    )
    def test_accept_language(self, header: str | None, language: str) -> None:
        assert negotiate(header) == language
