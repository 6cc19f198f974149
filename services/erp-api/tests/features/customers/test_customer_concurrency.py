"""Races between committing connections: two PATCHes with one ETag, one VAT number taken twice at once."""

from __future__ import annotations

import httpx
import pytest

from erp_api_testing.organizations import Team
from erp_api_testing.race import race


@pytest.mark.parametrize("trial", range(4))
async def test_of_two_patches_with_one_etag_exactly_one_wins(
    committing_client: httpx.AsyncClient, committed_team: Team, trial: int
) -> None:
    team = committed_team
    created = (
        await committing_client.post(
            team.url("/customers"), json={"name": "Base"}, headers=team.member.headers
        )
    ).json()
    url = team.url(f"/customers/{created['id']}")
    headers = {**team.member.headers, "If-Match": '"1"'}

    answers = await race(
        lambda: committing_client.patch(url, json={"name": f"First {trial}"}, headers=headers),
        lambda: committing_client.patch(url, json={"name": f"Second {trial}"}, headers=headers),
    )

    assert sorted(answer.status_code for answer in answers) == [200, 412]
    winner = next(answer for answer in answers if answer.status_code == 200).json()
    now = (await committing_client.get(url, headers=team.member.headers)).json()
    assert now["version"] == 2
    assert now["name"] == winner["name"]


@pytest.mark.parametrize("trial", range(4))
async def test_a_vat_number_taken_twice_at_once_is_taken_once(
    committing_client: httpx.AsyncClient, committed_team: Team, trial: int
) -> None:
    team = committed_team
    vat = f"IT{trial:02d}345678901"

    def create(name: str) -> httpx.Response:
        return committing_client.post(  # type: ignore[return-value]
            team.url("/customers"), json={"name": name, "vat_number": vat}, headers=team.member.headers
        )

    answers = await race(lambda: create("One"), lambda: create("Two"))

    assert sorted(answer.status_code for answer in answers) == [201, 409]
    loser = next(answer for answer in answers if answer.status_code == 409).json()
    assert loser["errors"][0]["loc"] == ["body", "vat_number"]
    listed = (await committing_client.get(team.url("/customers"), headers=team.member.headers)).json()[
        "items"
    ]
    assert [item["vat_number"] for item in listed].count(vat) == 1
