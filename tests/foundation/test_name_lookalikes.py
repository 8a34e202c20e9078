"""A customer name that displays like an existing one finds that customer, never a second one:
zero-width and control characters dropped, full-width letters folded (NFKC), runs of any whitespace
one space, ends trimmed."""

from __future__ import annotations

import pytest

from storage import customers as repo
from storage.db import transaction
from tests.conftest import NOW


@pytest.mark.parametrize("typed", [
    "华\u200b为科技 ABC", "华为科技\u00a0ABC", "华为科技\t\n ABC", "  华为科技 ABC  ", "华为科技 ＡＢＣ",
    "华为\u202e科技 ABC", "华为\x07科技 ABC", "\ufeff华为科技 ABC", "华为科技\u3000ABC",
])
def test_a_lookalike_name_finds_the_existing_customer(factory, typed):
    with transaction(factory) as s:
        first = repo.create(s, "华为科技 ABC", None, NOW, "test")
    with transaction(factory) as s:
        found = repo.by_name(s, typed)
        assert found is not None and found.id == first.id
        assert repo.normal_name(typed) == "华为科技 ABC"


def test_a_different_name_is_not_taken_for_it(factory):
    with transaction(factory) as s:
        repo.create(s, "华为科技 ABC", None, NOW, "test")
    with transaction(factory) as s:
        assert repo.by_name(s, "华为科技 ABD") is None
        assert repo.by_name(s, "华为科技ABC") is None  # a missing space is a different name
