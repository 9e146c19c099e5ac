"""Italian organisation identifiers: codice fiscale and partita IVA, with their check digits."""

from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.it import codicefiscale, iva


class InvalidIdentifier(ValueError):
    """A tax code or VAT number that fails its format or check digit."""


def _reason(compact: str, error: StdnumError) -> str:
    """What is wrong with ``compact`` (separators already removed), from python-stdnum's
    exception and the value itself: each exception covers more than one fault, and only the
    value tells which (a wrong office code is InvalidComponent, as is a person's birth date)."""
    digits = compact.isdigit()
    if isinstance(error, InvalidChecksum):
        return "has a wrong check digit"
    if isinstance(error, InvalidLength):
        return f"has {len(compact)} characters"
    if len(compact) == 11 and isinstance(error, InvalidFormat):
        if not digits:
            return "has 11 characters but not all of them are digits"
        return "has a serial number of zeros (digits 1-7)"
    if len(compact) == 11 and isinstance(error, InvalidComponent):
        return f"has {compact[7:10]!r} in digits 8-10, which is no provincial office code"
    if isinstance(error, InvalidComponent):
        return "has an impossible date of birth (characters 7-11)"
    if isinstance(error, InvalidFormat):
        return "is not in a natural person's format (6 letters, 2 digits, a letter, ...)"
    return "is not valid"


def _explain(kind: str, value: str, compact: str, error: StdnumError, expected: str) -> str:
    reason = _reason(compact, error)
    if isinstance(error, InvalidLength):
        reason += f" ({expected})"
    return f"{kind} {value!r} {reason}"


def normalise_tax_code(value: str) -> str:
    """Validate a codice fiscale: 11 digits (legal entities) or 16 characters (persons).

    Returns it upper-cased without spaces or separators.
    """
    compact = codicefiscale.compact(value)
    try:
        return str(codicefiscale.validate(compact))
    except StdnumError as error:
        raise InvalidIdentifier(
            _explain(
                "codice fiscale",
                value,
                compact,
                error,
                "11 digits for legal entities, 16 characters for natural persons",
            )
        ) from error


def normalise_vat_number(value: str) -> str:
    """Validate a partita IVA (11 digits, Luhn-style check digit); an ``IT`` prefix is dropped."""
    compact = iva.compact(value)
    if compact.startswith("IT"):
        compact = compact[2:]
    try:
        return str(iva.validate(compact))
    except StdnumError as error:
        raise InvalidIdentifier(
            _explain("partita IVA", value, compact, error, "a partita IVA has 11 digits")
        ) from error


def is_legal_entity_tax_code(tax_code: str) -> bool:
    """11-digit codes belong to legal entities; 16-character ones to natural persons."""
    return len(tax_code) == 11 and tax_code.isdigit()
