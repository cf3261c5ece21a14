"""Survey data: score histograms (exact, mergeable) and imports that keep no personal data."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sla.surveys import (
    Scale,
    ScoreHistogram,
    SurveyBatch,
    SurveyChannel,
    SurveyError,
    batch_from_rows,
    merge_all,
)

EXPORT = """name,phone,email,csat,NPS,Ces,comment
Zhang San,13800000000,zhang@example.com,5,10,7,very quick thanks
Li Si,13900000001,li@example.com,4,9,,
Wang Wu,13700000002,wang@example.com,2,3,2,"slow, rude"
Zhao Liu,13600000003,zhao@example.com,,6,5,
"""
PERSONAL = ["Zhang San", "13800000000", "zhang@example.com", "very quick", "Li Si", "Wang Wu", "rude", "Zhao Liu",
            "name", "phone", "email", "comment"]


def rows(text: str = EXPORT) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def batch(rows_, channel=SurveyChannel.EMAIL, batch_id="b-1") -> SurveyBatch:
    return batch_from_rows(rows_, channel=channel, batch_id=batch_id)


def survey_error(rows_, **kw) -> str:
    with pytest.raises(SurveyError) as info:
        batch(rows_, **kw)
    return str(info.value)


# ---- histograms -----------------------------------------------------------------------------------------------------
def test_histogram_of_scores():
    h = ScoreHistogram.of(Scale.CSAT, [5, 4, 4, 1, 5, 5])
    assert h.counts == {5: 3, 4: 2, 1: 1}
    assert h.n == 6
    # 5 of 6 answers are 4-5
    assert h.share(4, 5) == Fraction(5, 6)
    # (3*5 + 2*4 + 1) / 6 = 24/6 = 4
    assert h.mean() == Fraction(4)


def test_empty_histogram_has_no_share_or_mean():
    h = ScoreHistogram(scale=Scale.NPS)
    assert h.n == 0 and h.share(9, 10) is None and h.mean() is None


@pytest.mark.parametrize(("scale", "low", "high"), [(Scale.CSAT, 1, 5), (Scale.NPS, 0, 10), (Scale.CES, 1, 7)])
def test_scale_bounds_are_enforced(scale, low, high):
    assert scale.bounds == (low, high)
    ScoreHistogram(scale=scale, counts={low: 1, high: 1})
    for bad in (low - 1, high + 1):
        with pytest.raises(ValidationError, match=f"{scale.value} score {bad} outside {low}-{high}"):
            ScoreHistogram(scale=scale, counts={bad: 1})


def test_negative_count_refused():
    with pytest.raises(ValidationError, match="negative"):
        ScoreHistogram(scale=Scale.CSAT, counts={3: -1})


def test_merge_adds_counts_and_refuses_another_scale():
    a = ScoreHistogram(scale=Scale.CES, counts={7: 2, 3: 1})
    b = ScoreHistogram(scale=Scale.CES, counts={7: 1, 5: 4})
    assert a.merge(b).counts == {3: 1, 5: 4, 7: 3}
    with pytest.raises(ValueError, match="cannot merge a csat histogram into a ces one"):
        a.merge(ScoreHistogram(scale=Scale.CSAT, counts={5: 1}))


def test_merge_all_skips_missing_histograms():
    merged = merge_all(Scale.CSAT, [None, ScoreHistogram.of(Scale.CSAT, [5]), None,
                                    ScoreHistogram.of(Scale.CSAT, [5, 1])])
    assert merged.counts == {1: 1, 5: 2}
    assert merge_all(Scale.NPS, []).n == 0


def test_histogram_survives_a_json_round_trip():
    h = ScoreHistogram.of(Scale.NPS, [0, 10, 10, 7])
    again = ScoreHistogram.model_validate_json(h.model_dump_json())
    assert again == h and again.counts == {0: 1, 10: 2, 7: 1}


def histograms(scale: Scale):
    low, high = scale.bounds
    return st.dictionaries(st.integers(low, high), st.integers(0, 50), max_size=high - low + 1).map(
        lambda counts: ScoreHistogram(scale=scale, counts=counts)
    )


SCALED = st.sampled_from(list(Scale)).flatmap(lambda s: st.tuples(histograms(s), histograms(s), histograms(s)))


@settings(max_examples=200, deadline=None)
@given(SCALED)
def test_merge_is_associative_and_commutative_and_n_adds_up(triple):
    a, b, c = triple
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).n == a.n + b.n
    assert a.merge(b).merge(c).n == a.n + b.n + c.n
    # the empty histogram is neutral
    empty = ScoreHistogram(scale=a.scale)
    assert empty.merge(a.merge(b)) == a.merge(b)


@settings(max_examples=100, deadline=None)
@given(SCALED)
def test_share_and_mean_of_a_merge_weigh_by_counts(triple):
    a, b, _ = triple
    merged = a.merge(b)
    low, high = a.scale.bounds
    if merged.n:
        assert merged.share(low, high) == 1
        assert low <= merged.mean() <= high
        parts = [h for h in (a, b) if h.n]
        assert merged.mean() == sum(h.mean() * h.n for h in parts) / merged.n


# ---- imports --------------------------------------------------------------------------------------------------------
def test_csv_export_becomes_histograms():
    b = batch(rows())
    assert b.batch_id == "b-1" and b.channel is SurveyChannel.EMAIL
    assert b.csat is not None and b.nps is not None and b.ces is not None
    assert b.csat.counts == {5: 1, 4: 1, 2: 1}  # Zhao Liu left CSAT empty: skipped
    assert b.nps.counts == {10: 1, 9: 1, 3: 1, 6: 1}
    assert b.ces.counts == {7: 1, 2: 1, 5: 1}  # Li Si left CES empty
    assert b.responses == 4


def test_personal_columns_never_reach_the_batch():
    b = batch(rows(), channel=SurveyChannel.HOTLINE)
    dumped = b.model_dump_json()
    for text in PERSONAL:
        assert text not in dumped
    assert set(json.loads(dumped)) == {"batch_id", "channel", "csat", "nps", "ces", "overall", "agency"}
    assert json.loads(dumped)["overall"] is None and json.loads(dumped)["agency"] is None  # an agency's fields


def test_json_rows_with_numbers_and_nulls():
    b = batch([{"csat": 5, "nps": None, "customer": "x"}, {"csat": 3.0, "nps": 0}, {"CSAT ": "4"}])
    assert b.csat is not None and b.csat.counts == {5: 1, 3: 1, 4: 1}
    assert b.nps is not None and b.nps.counts == {0: 1}
    assert b.ces is None


def test_only_one_scale_is_enough():
    b = batch([{"nps": "9"}, {"nps": "10"}])
    assert b.csat is None and b.ces is None and b.nps is not None and b.nps.n == 2


@pytest.mark.parametrize(
    ("value", "needle"),
    [("6", "6 is outside the csat scale 1-5"), ("0", "0 is outside the csat scale 1-5"),
     ("4.5", "'4.5' is not a whole score"), ("good", "'good' is not a whole score"),
     ("nan", "'nan' is not a whole score"), ("inf", "'inf' is not a whole score"),
     ("1e400", "'1e400' is not a whole score"), (True, "'True' is not a whole score"),
     ([4], "'[4]' is not a whole score")],
)
def test_bad_scores_are_refused_naming_row_and_column(value, needle):
    data = [{"csat": "5", "Name": "Zhang San"}, {"csat": "4"}, {"csat": value, "Name": "Li Si"}]
    message = survey_error(data)
    assert "row 3, column 'csat'" in message
    assert needle in message
    assert "Li Si" not in message


def test_out_of_scale_nps_and_ces():
    assert "row 1, column 'NPS': 11 is outside the nps scale 0-10" in survey_error([{"NPS": "11"}])
    assert "row 2, column 'ces': 0 is outside the ces scale 1-7" in survey_error([{"ces": "1"}, {"ces": "0"}])
    assert "row 1, column 'ces': 8 is outside the ces scale 1-7" in survey_error([{"ces": 8}])


def test_no_score_column_is_refused():
    assert survey_error([{"name": "Zhang San", "score": "5"}]) == "no csat, nps or ces column found"
    assert survey_error([]) == "no csat, nps or ces column found"


def test_a_batch_without_answers_is_refused():
    message = survey_error([{"csat": "", "nps": None, "name": "x"}, {"csat": "  "}])
    assert "the batch holds no answers" in message


def test_channel_complaint_is_refused():
    message = survey_error([{"csat": "5"}], channel=SurveyChannel.COMPLAINT)
    assert "channel 'complaint'" in message
    with pytest.raises(ValidationError, match="channel 'complaint'"):
        SurveyBatch(batch_id="b", channel=SurveyChannel.COMPLAINT, csat=ScoreHistogram.of(Scale.CSAT, [5]))


def test_bad_batch_id_is_a_survey_error():
    assert "batch_id" in survey_error([{"csat": "5"}], batch_id="has space")


def test_survey_errors_are_one_readable_line():
    message = survey_error([{"csat": ""}])
    assert "\n" not in message and "errors.pydantic.dev" not in message


def test_histogram_on_the_wrong_field_is_refused():
    with pytest.raises(ValidationError, match="nps: histogram is on the csat scale"):
        SurveyBatch(batch_id="b", channel=SurveyChannel.WEB, nps=ScoreHistogram.of(Scale.CSAT, [5]))


def test_responses_is_the_largest_scale():
    b = SurveyBatch(batch_id="b", channel=SurveyChannel.SMS, csat=ScoreHistogram.of(Scale.CSAT, [5, 4]),
                    ces=ScoreHistogram.of(Scale.CES, [7, 7, 7]))
    assert b.responses == 3


# ---- fingerprints ---------------------------------------------------------------------------------------------------
def test_fingerprint_equal_for_equal_content():
    a = batch(rows(), batch_id="a")
    shuffled = list(reversed(rows()))
    b = batch(shuffled, batch_id="a")
    assert a.fingerprint() == b.fingerprint()
    assert len(a.fingerprint()) == 16
    # survives the trip through Temporal's JSON (int keys become strings and back)
    assert SurveyBatch.model_validate_json(a.model_dump_json()).fingerprint() == a.fingerprint()


def test_fingerprint_differs_for_different_content():
    base = batch(rows())
    one_more = batch([*rows(), {"csat": "5"}])
    other_channel = batch(rows(), channel=SurveyChannel.SMS)
    moved_answer = batch([{"csat": "5"}, {"csat": "4"}])
    moved_answer2 = batch([{"csat": "5"}, {"csat": "3"}])
    prints = {base.fingerprint(), one_more.fingerprint(), other_channel.fingerprint(),
              moved_answer.fingerprint(), moved_answer2.fingerprint()}
    assert len(prints) == 5


def test_fingerprint_ignores_the_batch_id():
    # The id is what deduplicates; the fingerprint tells a re-sent duplicate from a conflicting reuse of the id.
    assert batch(rows(), batch_id="x").fingerprint() == batch(rows(), batch_id="y").fingerprint()


@pytest.mark.parametrize("bad_row", [[5, 9], "5", 5, None])
def test_a_row_that_is_not_a_record_is_refused_naming_the_row(bad_row):
    # e.g. a JSON import written as a list of lists instead of a list of objects
    assert survey_error([{"csat": "5"}, bad_row]).startswith("row 2: ")


def test_an_agency_reports_one_overall_score_on_the_third_party_channel_only():
    from sla.surveys import third_party_score

    batch = third_party_score("default", "2026", 82, " Horizon Research ")
    assert (batch.batch_id, batch.channel, batch.overall, batch.agency, batch.responses) == (
        "third-party-2026-Horizon-Research", SurveyChannel.THIRD_PARTY, 82, "Horizon Research", 1)
    with pytest.raises(ValidationError, match="overall"):
        SurveyBatch(batch_id="x", channel=SurveyChannel.EMAIL, overall=82)
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        third_party_score("default", "2026", 101, "Horizon Research")
    assert batch.fingerprint() != third_party_score("default", "2026", 88, "Horizon Research").fingerprint()
