"""Italian and English: lazy messages, the gettext catalogues and Accept-Language negotiation.

The API speaks Italian (the region's language, the default) and English. A refusal's
``title`` and ``detail`` are written in English in the code, marked for extraction, and
translated when the response is rendered, in the language the request negotiated
(app.api.problems). ``type``, ``rule`` and the figures are stable and never translated.

How to write a message
    raise NotFound(msg("No programme {programme_id}.", programme_id=programme_id))
    class NotFound(DomainError): title = N_("Resource not found")
  ``msg`` takes a literal template (never an f-string: the template is the msgid that
  translators see) and named parameters, rendered with ``str.format`` (format specs such
  as ``{amount:.2f}`` work). ``str(message)`` is the English text, so logs, tests and
  ``exc.detail`` read as before; a parameter may itself be a ``msg`` (translated too).
  A plain string still works but stays English, and tests/test_i18n.py fails on it only
  if it is marked; mark every message a caller reads.

How to add or update a translation (README "Languages")
    make messages        # pybabel extract -> app/locale/wecare.pot, pybabel update -> .po
  then translate every new or fuzzy entry of app/locale/it/LC_MESSAGES/wecare.po (remove
  the ``#, fuzzy`` line once checked) and run ``make messages`` again (it fills the English
  catalogue with identity translations). tests/test_i18n.py names every msgid that lacks a
  translation. The .po files are read at startup: no compile step.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from string import Formatter

from babel.core import negotiate_locale
from babel.messages.pofile import read_po

DOMAIN = "wecare"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DEFAULT_LANGUAGE = "it"  # the region's language
# The default first: a wildcard, or a header that refuses the others, picks in this order.
SUPPORTED_LANGUAGES: tuple[str, ...] = ("it", "en")


def N_(text: str) -> str:
    """Mark a constant (a problem title) for extraction; it is translated when rendered."""
    return text


class Message(str):
    """A marked template with its parameters: the English text as a ``str``, translatable."""

    msgid: str
    params: Mapping[str, object]

    def __new__(cls, msgid: str, /, **params: object) -> Message:
        self = super().__new__(cls, _format(msgid, params) if params else msgid)
        self.msgid = msgid
        self.params = params
        return self

    def in_language(self, language: str) -> str:
        template = catalogue(language).get(self.msgid)
        if template is None:
            return str(self)
        if not self.params:
            return template
        params = {key: translate(value, language) for key, value in self.params.items()}
        try:
            return _format(template, params)
        except (KeyError, IndexError, ValueError):  # a broken translation: say it in English
            return str(self)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.msgid, dict(self.params)))


def _rebuild(msgid: str, params: dict[str, object]) -> Message:
    return Message(msgid, **params)


class Joined(Message):
    """Messages joined by a separator, each translated on its own (eligibility's list)."""

    parts: tuple[str, ...]
    separator: str

    def __new__(cls, separator: str, parts: Iterable[str], /) -> Joined:
        items = tuple(parts)
        self = str.__new__(cls, separator.join(items))
        self.msgid = separator.join(items)
        self.params = {}
        self.parts = items
        self.separator = separator
        return self

    def in_language(self, language: str) -> str:
        return self.separator.join(str(translate(part, language)) for part in self.parts)

    def __reduce__(self) -> tuple[object, ...]:
        return (Joined, (self.separator, self.parts))


def msg(msgid: str, /, **params: object) -> Message:
    """A message to translate: a literal template with named ``{parameters}``."""
    return Message(msgid, **params)


def _format(template: str, params: Mapping[str, object]) -> str:
    return Formatter().vformat(template, (), dict(params))


def translate(value: object, language: str) -> object:
    """``value`` in ``language`` when it is a message (also inside lists and mappings)."""
    if isinstance(value, Message):
        return value.in_language(language)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {key: translate(item, language) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [translate(item, language) for item in value]
    return value


def gettext(text: str, language: str) -> str:
    """A marked constant (an ``N_`` title) in ``language``; itself when not catalogued."""
    if isinstance(text, Message):
        return text.in_language(language)
    return catalogue(language).get(text, text)


@functools.cache
def catalogue(language: str) -> Mapping[str, str]:
    """msgid -> translation of the language's .po file (fuzzy and empty entries left out)."""
    if language not in SUPPORTED_LANGUAGES:
        return {}
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        parsed = read_po(po, locale=language, domain=DOMAIN)
    return {
        str(entry.id): str(entry.string)
        for entry in parsed
        if entry.id and isinstance(entry.id, str) and entry.string and not entry.fuzzy
    }


def fill_identity(language: str) -> None:
    """Translate every empty or fuzzy entry of a catalogue by its msgid (``make messages``
    does it for English, the language the code's messages are written in)."""
    from babel.messages.pofile import write_po

    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        parsed = read_po(po, locale=language, domain=DOMAIN)
    for entry in parsed:
        if entry.id and (not entry.string or entry.fuzzy):
            entry.string = entry.id
            entry.flags.discard("fuzzy")
    with path.open("wb") as po:
        write_po(po, parsed, sort_output=True, no_location=True, ignore_obsolete=True)


def load_catalogues() -> None:
    """Read every catalogue now (at startup): a broken .po stops the service, not a request."""
    for language in SUPPORTED_LANGUAGES:
        catalogue(language)


# RFC 9110 12.5.4: language-range [ OWS ";" OWS "q=" qvalue ], the range per RFC 4647 2.1.
_RANGE = re.compile(
    r"^\s*(\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)\s*"
    r"(?:;\s*[qQ]\s*=\s*(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?))?\s*$"
)
_MAX_RANGES = 32  # a longer header is abuse: its first ranges decide


@functools.lru_cache(maxsize=512)
def negotiate(header: str | None) -> str:
    """The language to answer in for an ``Accept-Language`` header (RFC 9110 12.5.4).

    Ranges are tried by decreasing weight (ties in their order), each by RFC 4647 lookup
    (``it-IT`` falls back to ``it``, by Babel's ``negotiate_locale``); ``*`` takes the first
    supported language not refused; ``q=0`` refuses. A malformed range is skipped; when
    nothing matches, the first supported language not refused answers (the default,
    Italian, unless the header refuses it). Never an error: a 406 helps nobody here.
    """
    if not header:
        return DEFAULT_LANGUAGE
    ranges: list[tuple[str, float]] = []
    for item in header.split(",")[:_MAX_RANGES]:
        match = _RANGE.match(item)
        if match is None:
            continue
        weight = match.group(2)
        ranges.append((match.group(1).lower(), float(weight) if weight is not None else 1.0))
    refused = {tag for tag, weight in ranges if weight == 0}
    acceptable = [lang for lang in SUPPORTED_LANGUAGES if lang not in refused]
    for tag, _weight in sorted((r for r in ranges if r[1] > 0), key=lambda r: -r[1]):
        if tag == "*":
            if acceptable:
                return acceptable[0]
            continue
        found = negotiate_locale([tag], acceptable, sep="-", aliases={})
        if found:
            return found
    return acceptable[0] if acceptable else DEFAULT_LANGUAGE


def placeholders(template: str) -> set[str]:
    """The named fields of a template (``{amount:.2f}`` -> ``amount``), for the catalogue test."""
    return {field for _, field, _, _ in Formatter().parse(template) if field is not None}
