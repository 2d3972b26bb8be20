"""The pure helpers behind the workspace's pages: marking the evidence in a paragraph, Finnish times and labels, and
reading a list's filter from its address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feedback_workspace.items import NO_SECTION, State
from feedback_workspace.pages import item_filter
from feedback_workspace.web import (
    Segment,
    evidence_segments,
    finnish_time,
    question_label,
    respondent_label,
    section_label,
    waited,
)

TEXT = "Luvussa 5.2.2 järjestöt tavoittavat väestöryhmiä."


def test_the_evidence_span_is_marked_and_the_paragraph_reads_as_before() -> None:
    segments = evidence_segments(TEXT, [{"kind": "reference", "span": [0, 13]}, {"kind": "similarity"}])
    assert segments == [Segment("Luvussa 5.2.2", True), Segment(TEXT[13:], False)]
    assert "".join(s.text for s in segments) == TEXT


def test_overlapping_evidence_is_marked_once_and_spans_outside_the_text_are_ignored() -> None:
    reasons = [{"span": [8, 13]}, {"span": [0, 10]}, {"span": [30, 300]}, {"span": [5, 5]}, {"span": [-1, 3]}]
    segments = evidence_segments(TEXT, reasons)
    assert [s.text for s in segments if s.marked] == ["Luvussa 5.", "2.2"]
    assert "".join(s.text for s in segments) == TEXT


def test_a_paragraph_without_evidence_is_one_unmarked_segment() -> None:
    assert evidence_segments(TEXT, []) == [Segment(TEXT, False)]
    assert evidence_segments("", [{"span": [0, 1]}]) == []


def test_times_are_shown_in_helsinki_time_the_finnish_way() -> None:
    assert finnish_time(datetime(2026, 3, 20, 12, 5, tzinfo=UTC)) == "20.3.2026 klo 14.05"
    assert finnish_time(datetime(2026, 7, 1, 6, 0, tzinfo=UTC)) == "1.7.2026 klo 09.00", "summer time"
    assert finnish_time(None) == ""


def test_waiting_is_said_in_days() -> None:
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    assert waited(now - timedelta(hours=5), now) == "alle päivän"
    assert waited(now - timedelta(days=1, hours=1), now) == "1 päivän"
    assert waited(now - timedelta(days=12), now) == "12 päivää"


def test_labels_of_questions_sections_and_respondent_types_are_finnish() -> None:
    assert question_label(38).startswith("Kysymys 38: Tuleeko luvun 5 painopisteiden sisältöjä")
    assert question_label(99) == "Kysymys 99", "a number the form does not have"
    assert section_label("5.2.2", "Turvallisuus ja kriisinkestävyys") == "5.2.2 Turvallisuus ja kriisinkestävyys"
    assert section_label(NO_SECTION, None) == "Ei tunnistettua lukua"
    assert respondent_label("municipality") == "kunta tai kaupunki"
    assert respondent_label("tuntematon") == "tuntematon"


def test_a_lists_filter_is_read_from_its_address_and_what_it_cannot_use_is_said() -> None:
    owners = frozenset({"turvallisuus"})
    where, problems = item_filter(owners, "kasitelty", " 5.2 ", "municipality", "  Valtamedia  ")
    assert (where.owners, where.state, where.section, where.respondent_type, where.text) == (
        owners, State.HANDLED, "5.2", "municipality", "Valtamedia",
    )  # fmt: skip
    assert problems == []
    where, problems = item_filter(None, "hylätty", "-", "marsilaiset", "")
    assert (where.state, where.section, where.respondent_type, where.text) == (None, NO_SECTION, None, None)
    assert problems == ["Tuntematon tila.", "Tuntematon vastaajaryhmä."]
    where, _ = item_filter(None, None, None, None, "x" * 500)
    assert len(where.text) == 200
