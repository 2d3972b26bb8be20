"""Reading what a report should cover from a download's address, and saying it back in Finnish: sections with
their subtrees, respondent types by code or Finnish name, dates as whole days in Helsinki, and every value that
cannot be used named (in Finnish on the pages, in English in the API) rather than ignored."""

from __future__ import annotations

from datetime import UTC, datetime

from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import load_taxonomy
from feedback_workspace.items import NO_SECTION, State
from feedback_workspace.reports.filters import (
    FilterInput,
    Format,
    ReportFilter,
    describe_filter,
    read_filter,
    scope_sections,
    time_range,
)
from feedback_workspace.reports.routes import download_name


def test_a_section_covers_itself_and_everything_under_it_and_nothing_beside_it() -> None:
    report, problems = read_filter(FilterInput(sections=["5.2", "-"]))
    assert not problems and report.sections == ("5.2", NO_SECTION)
    assert report.covers_section("5.2") and report.covers_section("5.2.2")
    assert not report.covers_section("5.20") and not report.covers_section("5.3.1.2") and not report.covers_section("5")
    assert report.covers_section(NO_SECTION), "'-' is the paragraphs that matched no section"
    assert ReportFilter().covers_section("7.1"), "no sections asked: every section"


def test_respondent_types_are_read_from_codes_and_the_forms_finnish_names() -> None:
    report, problems = read_filter(FilterInput(respondent_types=["municipality", "Järjestö tai seurakunta", "kunta"]))
    assert report.respondent_types == (RespondentType.MUNICIPALITY, RespondentType.ORGANIZATION_OR_PARISH)
    assert [p.finnish() for p in problems] == ["Tuntematon vastaajaryhmä: ”kunta”."]
    assert [p.english() for p in problems] == ["unknown respondent_type: 'kunta'"]


def test_dates_are_whole_days_in_helsinki_and_times_keep_their_offset() -> None:
    report, problems = read_filter(FilterInput(since="2026-04-01", until="30.4.2026"))
    assert not problems
    assert report.since == datetime(2026, 3, 31, 21, 0, tzinfo=UTC), "midnight in Helsinki (summer time)"
    assert report.until == datetime(2026, 4, 30, 21, 0, tzinfo=UTC), "the last day included"
    assert report.covers_time(datetime(2026, 4, 30, 20, 59, tzinfo=UTC))
    assert not report.covers_time(datetime(2026, 4, 30, 21, 0, tzinfo=UTC))
    exact, _ = read_filter(FilterInput(since="2026-04-01T12:00:00+00:00", until="2026-04-02T12:00"))
    assert exact.since == datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
    assert exact.until == datetime(2026, 4, 2, 9, 0, tzinfo=UTC), "a time without an offset is Helsinki's"


def test_what_cannot_be_used_is_named_in_the_askers_language() -> None:
    _, problems = read_filter(
        FilterInput(sections=["9.9", "5.2"], states=["valmis"], since="eilen", until="2026-13-01", revisions="some")
    )
    assert [p.finnish() for p in problems] == [
        "Tuntematon luku: ”9.9”.",
        "Tuntematon tila: ”valmis”.",
        "Päivämäärä ”eilen” ei kelpaa (alkupäivä); kirjoita esim. 2026-04-01 tai 1.4.2026.",
        "Päivämäärä ”2026-13-01” ei kelpaa (loppupäivä); kirjoita esim. 2026-04-01 tai 1.4.2026.",
        "Tuntematon versiot: ”some”.",
    ]
    assert problems[0].english() == "unknown section: '9.9'"
    _, backwards = read_filter(FilterInput(since="2026-05-01", until="2026-04-01"))
    assert [p.finnish() for p in backwards] == ["Alkupäivä on loppupäivän jälkeen."]
    _, many = read_filter(FilterInput(states=["uusi"] * 101))
    assert [p.english() for p in many] == ["too many values of state"]


def test_states_revisions_and_repeated_values() -> None:
    report, problems = read_filter(
        FilterInput(states=["uusi", "kasitelty", "uusi"], sections=["5.2", "5.2"], revisions="all")
    )
    assert not problems
    assert report.states == (State.NEW, State.HANDLED) and report.sections == ("5.2",) and report.all_revisions


def test_the_filter_is_said_back_in_finnish() -> None:
    report = ReportFilter(
        sections=("5.2",), respondent_types=(RespondentType.MUNICIPALITY,), since=datetime(2026, 3, 31, 21, tzinfo=UTC),
        until=datetime(2026, 4, 30, 21, tzinfo=UTC), states=(State.NEW,), owners=frozenset({"hyte"}),
    )  # fmt: skip
    assert describe_filter(report, lambda s: f"{s} Ennaltaehkäisy", str.upper) == [
        "Luvut: 5.2 Ennaltaehkäisy (alalukuineen)",
        "Vastaajaryhmät: kunta tai kaupunki",
        "Saapuneet: 1.4.2026–30.4.2026",
        "Tilat: Uusi",
        "Vastuuroolit: HYTE",
        "Versiot: kunkin lausunnon uusin versio",
    ]
    assert time_range(datetime(2026, 3, 31, 21, tzinfo=UTC), None) == "1.4.2026 alkaen"
    assert time_range(None, datetime(2026, 4, 30, 21, tzinfo=UTC)) == "30.4.2026 asti"
    assert time_range(datetime(2026, 3, 31, 21, tzinfo=UTC), datetime(2026, 4, 1, 21, tzinfo=UTC)) == "1.4.2026"


def test_an_owners_report_speaks_for_the_owners_sections_unless_sections_are_asked() -> None:
    taxonomy = load_taxonomy()
    owned = frozenset({"5.2.2", "5.3.1.2"})
    assert scope_sections(ReportFilter(owners=frozenset({"x"})), taxonomy, owned) == ["5.2.2", "5.3.1.2"]
    assert scope_sections(ReportFilter(sections=("5.2",)), taxonomy, owned) == ["5.2", "5.2.1", "5.2.2", "5.2.3"]
    assert scope_sections(ReportFilter(), taxonomy, None) == taxonomy.ids()


def test_a_download_is_named_by_what_and_when_in_plain_ascii() -> None:
    made = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    assert download_name(ReportFilter(), Format.XLSX, made) == "lausuntoyhteenveto-2026-05-04.xlsx"
    assert download_name(ReportFilter(sections=("5.2", NO_SECTION)), Format.DOCX, made) == (
        "lausuntoyhteenveto-luku-5.2_ei-lukua-2026-05-04.docx"
    )
