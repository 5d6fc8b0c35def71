"""The X counter against twitter-text's own conformance suite, read from shared/ as it is.

Every case of WeightedTweetsWithDiscountedEmojiCounterTest (the rules X uses today) must give the expected
weightedLength and valid. A missing file or section fails the run: a counter that is not checked is not
known to be right.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from channels_app.text import validate_text

VALIDATE_YML = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "twitter-text" / "validate.yml"
SECTION = "WeightedTweetsWithDiscountedEmojiCounterTest"


def load_cases() -> tuple[list[dict], str | None]:
    if not VALIDATE_YML.is_file():
        return [], (
            f"twitter-text conformance file not found at {VALIDATE_YML}. The tests expect shared/ beside the "
            "repository checkout (CI lays it there); copy shared/conformance/twitter-text/validate.yml unchanged."
        )
    cases = (yaml.safe_load(VALIDATE_YML.read_text(encoding="utf-8")) or {}).get("tests", {}).get(SECTION)
    if not cases:
        return [], f"{VALIDATE_YML} has no cases under tests.{SECTION}; the file must be twitter-text's, unchanged."
    return cases, None


CASES, PROBLEM = load_cases()


@pytest.mark.parametrize(
    "case",
    [pytest.param(case, id=case["description"]) for case in CASES] or [pytest.param(None, id="validate.yml")],
)
def test_x_counter_matches_twitter_text_conformance(case):
    if case is None:
        pytest.fail(PROBLEM)
    check = validate_text("x", case["text"])
    expected = case["expected"]
    assert (check.length, check.valid) == (expected["weightedLength"], expected["valid"]), case["description"]
    assert check.limit == 280
    assert check.valid == (not check.errors)
