"""What a report covers: sections (each with everything under it), respondent types, a time range on when the
statements were received, the owners' states, whose items, and whether earlier revisions are included.

The same filter is read from the pages' Finnish query names and from the API's English ones; what cannot be
understood is reported back (in the asker's language), never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import Taxonomy, load_taxonomy

from ..items import NO_SECTION, State

HELSINKI = ZoneInfo("Europe/Helsinki")
# How an address names the paragraphs that matched no section (as the item lists do).
NO_SECTION_QUERY = "-"
# More values of one filter than this is not a person's choice: refused rather than turned into a huge query.
MAX_VALUES = 100
FINNISH_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


class Format(StrEnum):
    """The files a report is made as."""

    XLSX = "xlsx"
    DOCX = "docx"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]


_MEDIA_TYPES = {
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Format.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass(frozen=True)
class ReportFilter:
    """What a report includes. Empty tuples mean no restriction; `owners` None: every owner's items (the office)."""

    sections: tuple[str, ...] = ()
    respondent_types: tuple[RespondentType, ...] = ()
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    states: tuple[State, ...] = ()
    owners: frozenset[str] | None = None
    all_revisions: bool = False

    def covers_section(self, section_id: str) -> bool:
        """Whether a paragraph routed to `section_id` is within the filter's sections."""
        return not self.sections or any(_within(section_id, asked) for asked in self.sections)

    def covers_time(self, received_at: datetime) -> bool:
        return (self.since is None or received_at >= self.since) and (self.until is None or received_at < self.until)


def _within(section_id: str, asked: str) -> bool:
    if asked == NO_SECTION:
        return section_id == NO_SECTION
    return section_id == asked or section_id.startswith(asked + ".")


@dataclass(frozen=True)
class Problem:
    """One value of the address that could not be used: which filter, what was wrong, the value as given."""

    field: str  # section, respondent_type, state, since, until, revisions
    kind: str  # unknown, not_a_time, empty_range, too_many
    value: str

    def finnish(self) -> str:
        return _FINNISH[self.kind].format(name=_FINNISH_NAMES[self.field], value=self.value)

    def english(self) -> str:
        return _ENGLISH[self.kind].format(name=self.field, value=self.value)


_FINNISH_NAMES = {
    "section": "luku",
    "respondent_type": "vastaajaryhmä",
    "state": "tila",
    "since": "alkupäivä",
    "until": "loppupäivä",
    "revisions": "versiot",
    "owner": "vastuurooli",
}
_FINNISH = {
    "unknown": "Tuntematon {name}: ”{value}”.",
    "not_a_time": "Päivämäärä ”{value}” ei kelpaa ({name}); kirjoita esim. 2026-04-01 tai 1.4.2026.",
    "empty_range": "Alkupäivä on loppupäivän jälkeen.",
    "too_many": "Liian monta arvoa: {name}.",
}
_ENGLISH = {
    "unknown": "unknown {name}: {value!r}",
    "not_a_time": "{name} {value!r} is not a date or time (e.g. 2026-04-01, 2026-04-01T12:00:00+03:00)",
    "empty_range": "since is after until",
    "too_many": "too many values of {name}",
}


@dataclass
class FilterInput:
    """The raw values of an address, named as the API names them."""

    sections: Sequence[str] = ()
    respondent_types: Sequence[str] = ()
    states: Sequence[str] = ()
    since: str | None = None
    until: str | None = None
    revisions: str | None = None  # "all" for every revision, else the latest
    owners: frozenset[str] | None = None
    problems: list[Problem] = field(default_factory=list)


def read_filter(given: FilterInput, taxonomy: Taxonomy | None = None) -> tuple[ReportFilter, list[Problem]]:
    """The filter `given` asks for, and what in it could not be understood."""
    taxonomy = taxonomy or load_taxonomy()
    problems = list(given.problems)
    for name, values in (("section", given.sections), ("respondent_type", given.respondent_types),
                         ("state", given.states)):  # fmt: skip
        if len(values) > MAX_VALUES:
            problems.append(Problem(name, "too_many", str(len(values))))
    sections: list[str] = []
    for value in (v.strip() for v in given.sections[:MAX_VALUES] if v.strip()):
        if value == NO_SECTION_QUERY:
            sections.append(NO_SECTION)
        elif value in taxonomy:
            sections.append(value)
        else:
            problems.append(Problem("section", "unknown", value[:40]))
    types: list[RespondentType] = []
    for value in (v.strip() for v in given.respondent_types[:MAX_VALUES] if v.strip()):
        try:
            types.append(RespondentType.parse(value))
        except ValueError:
            problems.append(Problem("respondent_type", "unknown", value[:60]))
    states: list[State] = []
    for value in (v.strip() for v in given.states[:MAX_VALUES] if v.strip()):
        try:
            states.append(State(value))
        except ValueError:
            problems.append(Problem("state", "unknown", value[:40]))
    since = _time(given.since, "since", problems, end_of_day=False)
    until = _time(given.until, "until", problems, end_of_day=True)
    if since is not None and until is not None and since >= until:
        problems.append(Problem("since", "empty_range", given.since or ""))
    if given.revisions not in (None, "", "latest", "all"):
        problems.append(Problem("revisions", "unknown", given.revisions[:20]))
    report = ReportFilter(
        sections=tuple(dict.fromkeys(sections)),
        respondent_types=tuple(dict.fromkeys(types)),
        since=since,
        until=until,
        states=tuple(dict.fromkeys(states)),
        owners=given.owners,
        all_revisions=given.revisions == "all",
    )
    return report, problems


def _time(value: str | None, name: str, problems: list[Problem], *, end_of_day: bool) -> datetime | None:
    """A date (the whole day in Helsinki: `until` a date includes that day) or a time (naive: Helsinki), in UTC."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    day = _date(text)
    if day is not None:
        if end_of_day:
            day += timedelta(days=1)
        return datetime.combine(day, time(), HELSINKI).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        problems.append(Problem(name, "not_a_time", text[:40]))
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=HELSINKI)).astimezone(UTC)


def _date(text: str) -> date | None:
    finnish = FINNISH_DATE.match(text)
    try:
        if finnish:
            return date(int(finnish[3]), int(finnish[2]), int(finnish[1]))
        return date.fromisoformat(text) if len(text) == len("2026-04-01") else None
    except ValueError:
        return None


def scope_sections(report: ReportFilter, taxonomy: Taxonomy, owned: frozenset[str] | None) -> list[str]:
    """The taxonomy's sections the report speaks for, in the strategy's order: those within its sections, or (for
    an owner's report without sections) those the owner covers, or all. Its silent sections are among these."""
    chosen = [s.id for s in taxonomy.sections if report.covers_section(s.id)]
    if not report.sections and owned is not None:
        chosen = [s for s in chosen if s in owned]
    return chosen


def describe_filter(
    report: ReportFilter, section_label: Callable[[str], str], owner_label: Callable[[str], str]
) -> list[str]:
    """The filter in Finnish, a line per restriction, for the files' own description of what they hold."""
    lines = []
    if report.sections:
        lines.append("Luvut: " + ", ".join(section_label(s) for s in report.sections) + " (alalukuineen)")
    if report.respondent_types:
        lines.append("Vastaajaryhmät: " + ", ".join(t.label_fi for t in report.respondent_types))
    if report.since or report.until:
        lines.append("Saapuneet: " + time_range(report.since, report.until))
    if report.states:
        lines.append("Tilat: " + ", ".join(s.label for s in report.states))
    if report.owners is not None:
        lines.append("Vastuuroolit: " + ", ".join(owner_label(o) for o in sorted(report.owners)))
    lines.append("Versiot: kaikki versiot" if report.all_revisions else "Versiot: kunkin lausunnon uusin versio")
    return lines


def finnish_date(moment: datetime) -> str:
    return moment.astimezone(HELSINKI).strftime("%-d.%-m.%Y")


def time_range(since: datetime | None, until: datetime | None) -> str:
    """'1.4.2026–15.5.2026' (an exclusive end shown as the day before it, when it is a midnight)."""
    last = None
    if until is not None:
        local = until.astimezone(HELSINKI)
        last = local - timedelta(days=1) if local.time() == time() else local
    start = finnish_date(since) if since else ""
    end = finnish_date(last) if last else ""
    if start and end:
        return start if start == end else f"{start}–{end}"
    return f"{start} alkaen" if start else f"{end} asti"
