"""Italian organisation identifiers: codice fiscale and partita IVA, with their check digits."""

from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.it import codicefiscale, iva


class InvalidIdentifier(ValueError):
    """A tax code or VAT number that fails its format or check digit."""


def _explain(kind: str, value: str, error: StdnumError) -> str:
    if isinstance(error, InvalidLength):
        reason = "has the wrong length"
    elif isinstance(error, InvalidChecksum):
        reason = "has a wrong check digit"
    elif isinstance(error, (InvalidFormat, InvalidComponent)):
        reason = "is not in the expected format"
    else:
        reason = "is not valid"
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
            _explain("codice fiscale", value, error)
            + " (11 digits for legal entities, 16 characters for natural persons)"
        ) from error


def normalise_vat_number(value: str) -> str:
    """Validate a partita IVA (11 digits, Luhn-style check digit); an ``IT`` prefix is dropped."""
    compact = iva.compact(value)
    if compact.startswith("IT"):
        compact = compact[2:]
    try:
        return str(iva.validate(compact))
    except StdnumError as error:
        raise InvalidIdentifier(_explain("partita IVA", value, error)) from error


def is_legal_entity_tax_code(tax_code: str) -> bool:
    """11-digit codes belong to legal entities; 16-character ones to natural persons."""
    return len(tax_code) == 11 and tax_code.isdigit()
