"""The co-financing split (issue 16): each measure's EU, national and regional shares are
data (null: "not given by the source"), the region sets them by an audited If-Match
measure update, and the programme report gives every funding figure by source, exact in
cents (app.core.cofinancing's rounding rule). On both databases."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cofinancing import Shares, split
from app.models import AuditEvent, Measure
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file
from tests.actors import Actor
from tests.api.v1.flows import Api, grant
from tests.api.v1.test_mixed_instrument import _backdate, _repay
from tests.world import Budget, approved, budget, district, funded, mixed, new_call, new_measure

SECOND_FILE = Path(__file__).resolve().parents[2] / "data" / "second_programme.yaml"
THIRDS = {"eu_share_bp": 3333, "national_share_bp": 3333, "regional_share_bp": 3334}
FIGURES = ("granted", "accepted", "claimed", "verified", "advanced", "paid")
SOURCES = ("eu", "national", "regional")


@st.composite
def shares(draw: st.DrawFn) -> Shares:
    """Any three whole shares summing to 10000 basis points (a source may have none)."""
    eu = draw(st.integers(0, 10000))
    national = draw(st.integers(0, 10000 - eu))
    return Shares(eu, national, 10000 - eu - national)


def _splits(node: Any, path: str = "report") -> int:
    """Assert that every split in ``node`` (a report or a part of it: funding figures and
    the fund's loans, at every level) adds up to its figures exactly; return how many."""
    found = 0
    if isinstance(node, dict):
        by_source = node.get("by_source")
        if by_source is not None:
            for figure in by_source["eu"]:
                parts = [Decimal(by_source[source][figure]) for source in SOURCES]
                assert sum(parts) == Decimal(node[figure]), (path, figure, parts)
                assert min(parts) >= 0, (path, figure, parts)
            found += 1
        for key, value in node.items():
            found += _splits(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _splits(value, f"{path}[{i}]")
    return found


def _parts(funding: dict[str, Any], figure: str) -> tuple[str, str, str]:
    by_source = funding["by_source"]
    return tuple(by_source[source][figure] for source in ("eu", "national", "regional"))


class TestTheRoundingRule:
    """EU half up; EU + national half up, national the difference; regional the rest."""

    @pytest.mark.parametrize(
        ("figure", "shares", "parts"),
        [
            # 0.005 is half a cent: up to 0.01; EU + national is also 0.01, so national 0.00.
            ("0.01", (5000, 5000, 0), ("0.01", "0.00", "0.00")),
            # Just under half a cent stays 0.00; the cent goes to national (EU + national
            # = 0.01 x 10000 bp = 0.01).
            ("0.01", (4999, 5001, 0), ("0.00", "0.01", "0.00")),
            ("0.01", (4999, 1, 5000), ("0.00", "0.01", "0.00")),
            ("0.01", (4999, 0, 5001), ("0.00", "0.00", "0.01")),
            # Thirds: 33330.3333 -> .33; 66660.6666 -> .67, national .34; regional the rest.
            ("100001.00", (3333, 3333, 3334), ("33330.33", "33330.34", "33340.33")),
            ("100000.00", (5000, 3500, 1500), ("50000.00", "35000.00", "15000.00")),
            ("0.00", (3333, 3333, 3334), ("0.00", "0.00", "0.00")),
            ("1000000000.00", (10000, 0, 0), ("1000000000.00", "0.00", "0.00")),
        ],
    )
    def test_the_parts_are_exact_to_the_cent_and_sum_to_the_figure(
        self, figure: str, shares: tuple[int, int, int], parts: tuple[str, str, str]
    ) -> None:
        found = split(Decimal(figure), Shares(*shares))
        assert tuple(str(p.quantize(Decimal("0.01"))) for p in found) == parts
        assert sum(found) == Decimal(figure)

    def test_the_parts_never_go_negative_and_always_sum(self) -> None:
        for cents in range(0, 301):
            figure = Decimal(cents).scaleb(-2)
            for shares in ((3333, 3333, 3334), (5000, 5000, 0), (1, 9998, 1), (0, 5000, 5000)):
                parts = split(figure, Shares(*shares))
                assert min(parts) >= 0, (figure, shares, parts)
                assert sum(parts) == figure, (figure, shares, parts)
                for part, bp in zip(parts, shares, strict=True):  # each within a cent
                    assert abs(part - figure * bp / 10000) <= Decimal("0.01")

    @settings(max_examples=500, deadline=None)
    @given(cents=st.integers(0, 10**13), shares=shares())
    def test_any_figure_with_any_shares_splits_into_parts_that_sum_to_it(
        self, cents: int, shares: Shares
    ) -> None:
        """Up to 100 billion euros, any shares: the parts sum to the figure to the cent, none
        is negative, each is within a cent of its exact share, EU is the exact share
        rounded half up, and a source without a share gets nothing."""
        figure = Decimal(cents).scaleb(-2)
        parts = split(figure, shares)
        assert sum(parts) == figure
        assert all(part == part.quantize(Decimal("0.01")) for part in parts)
        for part, bp in zip(parts, shares, strict=True):
            exact = figure * bp / 10000
            assert part >= 0
            assert abs(part - exact) <= Decimal("0.01")
            if bp == 0:
                assert part == 0
        # EU is its exact share in cents rounded to the nearest cent, a half cent up.
        off = parts[0].scaleb(2) - Decimal(cents * shares.eu_bp) / 10000
        assert -Decimal("0.5") < off <= Decimal("0.5")

    def test_shares_must_sum_to_10000(self) -> None:
        assert Shares(5000, 3500, 1500).problems() == []
        assert Shares(5000, 3500, 1499).problems() == [
            "the shares sum to 9999 basis points, not 10000"
        ]
        assert Shares(5000, 3500, 1501).problems() != []


class TestTheRegionSetsTheShares:
    async def test_not_given_until_set_by_an_audited_if_match_update(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        world = await budget(session, total=1000, code="COF")
        api = Api(client)
        path = f"/api/v1/measures/{world.measure.id}"
        assert (await api.read(path, admin))["cofinancing"] is None
        # Without If-Match: refused, nothing set.
        bare = await client.patch(path, json={"cofinancing": THIRDS}, headers=admin.headers)
        assert bare.status_code == 428, bare.text
        changed = await api.patch(path, admin, {"cofinancing": THIRDS})
        assert changed["cofinancing"] == THIRDS
        event = await session.scalar(
            select(AuditEvent)
            .where(
                AuditEvent.action == "measure.update", AuditEvent.entity_id == str(world.measure.id)
            )
            .order_by(AuditEvent.seq.desc())
        )
        assert event is not None
        assert event.before is not None
        assert event.after is not None
        assert json.loads(event.before)["eu_share_bp"] is None
        assert json.loads(event.after)["regional_share_bp"] == 3334

    @pytest.mark.parametrize(
        "shares",
        [
            {"eu_share_bp": 3333, "national_share_bp": 3333, "regional_share_bp": 3333},
            {"eu_share_bp": 3333, "national_share_bp": 3333, "regional_share_bp": 3335},
            {"eu_share_bp": 10001, "national_share_bp": 0, "regional_share_bp": -1},
            {"eu_share_bp": 5000, "national_share_bp": 5000},
        ],
    )
    async def test_shares_that_are_not_whole_are_a_422_and_change_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor, shares: Any
    ) -> None:
        world = await budget(session, total=1000, code="COF")
        api = Api(client)
        path = f"/api/v1/measures/{world.measure.id}"
        body = await api.patch(path, admin, {"cofinancing": shares}, expect=422)
        assert body["rule"] == "validation_error"
        measure = await session.get(Measure, world.measure.id, populate_existing=True)
        assert measure is not None
        assert measure.shares is None


class TestTheReportBySource:
    async def test_every_figure_by_source_at_the_cent(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        grant = await funded(session, grant=100_001, code="COFR")
        report = f"/api/v1/programmes/{grant.world.programme.id}/report"
        body = (await client.get(report)).json()
        (measure,) = body["measures"]
        # Not given: no split, for the measure, its call, or the programme.
        assert measure["cofinancing"] is None
        assert body["funding"]["by_source"] is None
        assert measure["funding"]["by_source"] is None
        assert measure["calls"][0]["funding"]["by_source"] is None

        await Api(client).patch(
            f"/api/v1/measures/{grant.world.measure.id}", admin, {"cofinancing": THIRDS}
        )
        body = (await client.get(report)).json()
        (measure,) = body["measures"]
        assert measure["cofinancing"] == THIRDS
        for funding in (body["funding"], measure["funding"], measure["calls"][0]["funding"]):
            assert funding["granted"] == "100001.00"
            assert _parts(funding, "granted") == ("33330.33", "33330.34", "33340.33")
            for figure in FIGURES[1:]:
                assert _parts(funding, figure) == ("0.00", "0.00", "0.00")

    async def test_the_programme_adds_its_measures_parts_and_is_null_if_one_is_missing(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        world = await budget(session, total=20_000, measure_budget=10_000, code="COFP")
        world.programme.measures_budget = Decimal(20_000)
        other = await new_measure(
            session, world.programme, code="COFP-M2", budget=10_000, calls_budget=10_000
        )
        other_call = await new_call(session, other, code="COFP-CALL2", budget=10_000)
        await funded(session, grant=1_001, world=world, n=1)
        await funded(session, grant=2_001, world=Budget(world.programme, other, other_call), n=2)
        api = Api(client)
        report = f"/api/v1/programmes/{world.programme.id}/report"
        shares = {"eu_share_bp": 5000, "national_share_bp": 3500, "regional_share_bp": 1500}
        await api.patch(f"/api/v1/measures/{world.measure.id}", admin, {"cofinancing": shares})
        body = (await client.get(report)).json()
        first, second = body["measures"]
        assert _parts(first["funding"], "granted") == ("500.50", "350.35", "150.15")
        assert second["funding"]["by_source"] is None
        assert body["funding"]["by_source"] is None  # one measure's shares are not given
        await api.patch(f"/api/v1/measures/{other.id}", admin, {"cofinancing": THIRDS})
        body = (await client.get(report)).json()
        first, second = body["measures"]
        # 2001 x 33.33% = 666.9333 -> 666.93; x 66.66% = 1333.8666 -> 1333.87: national
        # 666.94; regional 2001 - 1333.87 = 667.13.
        assert _parts(second["funding"], "granted") == ("666.93", "666.94", "667.13")
        assert body["funding"]["granted"] == "3002.00"
        assert _parts(body["funding"], "granted") == ("1167.43", "1017.29", "817.28")


class TestTheSharesAsData:
    async def test_the_files_give_them_or_say_not_given_and_a_reload_keeps_the_region_s(
        self, session: AsyncSession
    ) -> None:
        await load_reference_data(session, read_reference_file(SECOND_FILE))
        shares = dict(
            (await session.execute(select(Measure.code, Measure.eu_share_bp))).tuples().all()
        )
        assert (shares["CARE"], shares["INVEST"]) == (5000, 3333)
        wecare = read_reference_file(WECARE_FILE)
        assert all(m.cofinancing is None for m in wecare.programme.measures)
        await load_reference_data(session, wecare)
        fse1 = await session.scalar(select(Measure).where(Measure.code == "FSE1"))
        assert fse1 is not None
        assert fse1.shares is None
        fse1.eu_share_bp, fse1.national_share_bp, fse1.regional_share_bp = 5000, 3500, 1500
        await session.flush()
        await load_reference_data(session, wecare)
        await session.refresh(fse1)
        assert fse1.shares == (5000, 3500, 1500)


class TestTheFundBySource:
    async def test_lent_repaid_and_outstanding_by_source_at_every_level(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor, officer: Actor
    ) -> None:
        """A mixed grant of 100,000.00 in a district (70,000.00 lent) whose 5th instalment
        repays 4,253.26 of principal: the fund's lent, repaid and outstanding by source, in
        thirds, for the measure, its call, its district and the programme; every split of
        the report sums to its figure."""
        world = await mixed(session, total=1_000_000, code="COFF")
        world.measure.one_per_district = True
        where = await district(session, world, 1)
        await district(session, world, 2)  # no grant there: nothing lent
        application = await approved(session, world, requested=100_001, district=where, n=1)
        granted = await grant(client, admin, application.id, "100000.00")
        assert granted.status_code == 201, granted.text
        allocation = granted.json()["id"]
        report = f"/api/v1/programmes/{world.programme.id}/report"

        # Shares not given: the loans are reported, not split.
        body = (await client.get(report)).json()
        (measure,) = body["measures"]
        assert measure["fund"]["by_source"] is None
        assert measure["calls"][0]["fund"] == {
            "lent": "70000.00",
            "repaid": "0.00",
            "outstanding": "70000.00",
            "by_source": None,
        }
        assert body["fund"]["by_source"] is None  # a mixed measure gives no shares

        await Api(client).patch(
            f"/api/v1/measures/{world.measure.id}", admin, {"cofinancing": THIRDS}
        )
        await _backdate(session, allocation, 500)
        repaid = await _repay(client, officer, allocation, 5, "4515.76")
        assert repaid.json()["principal"] == "4253.26"
        body = (await client.get(report)).json()
        (measure,) = body["measures"]
        # lent 70,000.00: EU x 33.33% = 23,331.00; EU + national x 66.66% = 46,662.00;
        # regional the rest. repaid 4,253.26: 1,417.611558 -> 1,417.61; 2,835.223116 ->
        # 2,835.22 (national 1,417.61); regional 1,418.04. outstanding 65,746.74:
        # 21,913.388442 -> 21,913.39; 43,826.776884 -> 43,826.78 (national 21,913.39);
        # regional 21,919.96.
        expected = {
            "eu": {"lent": "23331.00", "repaid": "1417.61", "outstanding": "21913.39"},
            "national": {"lent": "23331.00", "repaid": "1417.61", "outstanding": "21913.39"},
            "regional": {"lent": "23338.00", "repaid": "1418.04", "outstanding": "21919.96"},
        }
        loans = {"lent": "70000.00", "repaid": "4253.26", "outstanding": "65746.74"}
        (call,) = measure["calls"]
        first, second = measure["districts"]
        for fund in (body["fund"], measure["fund"], call["fund"], first["fund"]):
            assert {k: fund[k] for k in loans} == loans
            assert fund["by_source"] == expected
        nothing = {"lent": "0.00", "repaid": "0.00", "outstanding": "0.00"}
        assert second["fund"] == {**nothing, "by_source": dict.fromkeys(SOURCES, nothing)}
        # The funding figures split too (granted 100,000.00 in thirds), and every split of
        # the report, at every level, sums to its figure exactly.
        assert _parts(measure["funding"], "granted") == ("33330.00", "33330.00", "33340.00")
        assert _splits(body) == 2 * 5  # funding and fund of programme, measure, call, districts
