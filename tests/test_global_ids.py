"""The global id codec: the ids clients hold keep their bytes; compound keys round-trip."""

from uuid import UUID

import pytest

from schema.errors import BadUserInput
from schema.node import expect_global_id, from_global_id, to_global_id

CONTENT = UUID("0b7e5c3a-1f2d-4e6b-9a8c-7d6e5f4a3b2c")
USER = UUID("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a")


def test_an_id_of_one_uuid_is_what_it_always_was() -> None:
    # base64url of "Content:<uuid>" without padding, as clients have stored it.
    assert to_global_id("Content", CONTENT) == (
        "Q29udGVudDowYjdlNWMzYS0xZjJkLTRlNmItOWE4Yy03ZDZlNWY0YTNiMmM"
    )
    assert from_global_id(to_global_id("Content", CONTENT)) == ("Content", CONTENT)


def test_a_compound_key_round_trips_in_its_order() -> None:
    global_id = to_global_id("Rating", (CONTENT, USER))
    assert from_global_id(global_id) == ("Rating", (CONTENT, USER))
    assert global_id != to_global_id("Rating", (USER, CONTENT))


@pytest.mark.parametrize(
    ("global_id", "type_name"),
    [
        (to_global_id("Rating", (CONTENT, USER)), "Rating"),  # two uuids where one is expected
        (to_global_id("User", USER), "Content"),  # another type
        ("bm90IGFuIGlk", "Content"),  # "not an id"
    ],
)
def test_an_id_that_is_not_one_uuid_of_the_type_is_refused(global_id: str, type_name: str) -> None:
    with pytest.raises(BadUserInput):
        expect_global_id(global_id, type_name)
