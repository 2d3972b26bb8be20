"""Properties of the document importer (`feedback import`) and the paragraph classifier for any input.

Importer: any text or bytes either becomes a valid SurveyResponse or stops with `DocumentError` (never another
exception); the same document gives the same response id; a plausibly written statement keeps every answer.
Classifier (beyond tests/unit/classify): any respondent type, deterministic, and a named section is routed
whatever text surrounds it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from feedback_classify.classifier import shared_classifier
from feedback_contracts.questionnaire import load_questionnaire
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import SurveyResponse
from feedback_ingest.importer import DocumentError, ImportOptions, ImportResult, import_file, import_lines

from .conftest import HOSTILE_ANSWERS, HOSTILE_ORGANISATIONS, HOSTILE_TITLES

MODIFIED_AT = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
QUESTIONNAIRE = load_questionnaire()
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

VOCABULARY = (  # noqa: SIM905 - a word list reads better as text
    "palvelu kunta yhteistyö hyvinvointi strategia asiakas ennaltaehkäisy järjestö tärkeää kehittää alue "
    "tukea nuoret ikääntyneet digitalisaatio saatavuus osallisuus ja sekä on tulee myös vastuutyöntekijä "
    "kriisinkestävyys mielenterveys työllisyys hankinnat rahoitus kumppanuus"
).split()
HEADING_STYLES = (
    "{n}. {q}", "### {n}. {q}", "# {n}. {q}", "**{n}.** {q}", "**{n}. {q}**", "{n}) {q}", "Kysymys {n}: {q}",
    "## Kysymys {n}. {q}",
)  # fmt: skip
NOISE_LINES = ("Muokkaa vastausta", "Sulje", "Yhteenvetosivu: 3/5", "Tämän sivun kysymykset 27-35 ovat vain kunnille")
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u202c", "\u00ad", "\u00a0")


def question_text(number: int) -> str:
    return QUESTIONNAIRE.question(number).text or "Mitä mieltä olette tästä?"


def outcome(lines: list[str], options: ImportOptions) -> ImportResult | DocumentError:
    """The import's result, or its DocumentError; any other exception propagates and fails the test."""
    try:
        result = import_lines(lines, options, modified_at=MODIFIED_AT)
    except DocumentError as error:
        assert str(error).strip(), "a DocumentError must say what was found"
        return error
    response = result.response
    assert isinstance(response, SurveyResponse)
    assert SurveyResponse.model_validate_json(response.model_dump_json()) == response
    assert all(isinstance(w, str) and w for w in result.warnings)
    return result


# --- strategies -----------------------------------------------------------------------------------------------

sentences = st.lists(st.sampled_from(VOCABULARY), min_size=3, max_size=12).map(
    lambda words: words[0].capitalize() + " " + " ".join(words[1:]) + "."
)
paragraphs = st.lists(sentences, min_size=1, max_size=3).map(" ".join)
list_blocks = st.lists(sentences, min_size=2, max_size=4).map(lambda items: "\n".join(f"- {i}" for i in items))
sub_headings = st.sampled_from(VOCABULARY).map(lambda w: f"## {w.capitalize()}")
answer_blocks = st.lists(st.one_of(paragraphs, paragraphs, list_blocks), min_size=1, max_size=4)
options_strategy = st.builds(
    ImportOptions,
    respondent_type=st.none() | st.sampled_from(list(RespondentType)),
    organization=st.none() | st.text(max_size=40) | st.sampled_from(HOSTILE_ORGANISATIONS),
    title=st.none() | st.text(max_size=40) | st.sampled_from(HOSTILE_TITLES),
    response_id=st.none() | st.sampled_from(["doc-1", "a b", "", "x" * 200]),
)


@st.composite
def well_formed_statements(draw: st.DrawFn) -> tuple[list[str], RespondentType, str, dict[int, str]]:
    """A statement as a municipality or an NGO writes one: its name, locally numbered questions, answers."""
    rtype = draw(st.sampled_from(list(RespondentType)))
    count = draw(st.integers(1, len(rtype.questions)))
    organisation = draw(st.sampled_from(VOCABULARY)).capitalize() + draw(
        st.sampled_from(["n kunta", "n kaupunki", " ry", "n yhdistys"])
    )
    style = draw(st.sampled_from(HEADING_STYLES))
    parts, expected = [organisation], {}
    if draw(st.booleans()):
        parts.append("Päivämäärä: 20.3.2026")
    for local in range(1, count + 1):
        number = QUESTIONNAIRE.global_number(rtype, local)
        blocks = draw(answer_blocks)
        if draw(st.booleans()):
            heading = draw(sub_headings)
            blocks = [heading, *blocks]
        parts.append(style.format(n=local, q=question_text(number)))
        parts.extend(blocks)
        expected[number] = "\n\n".join(re.sub(r"^## ", "", b) for b in blocks)
    separator = draw(st.sampled_from(["\n\n", "\n\n\n", "\n \n"]))
    return separator.join(parts).splitlines(), rtype, organisation, expected


@st.composite
def noisy_documents(draw: st.DrawFn) -> list[str]:
    """Documents that look like statements but go wrong in every way a real one can."""
    line = st.one_of(
        st.builds(
            lambda style, n, q: style.format(n=n, q=q),
            st.sampled_from(HEADING_STYLES + ("{n}", "{n}.", "### {n}", "{n}.{n}", "Kysymys {n}")),
            st.integers(0, 99),
            st.sampled_from(["", "Mitä?", question_text(27), question_text(1), question_text(2)]),
        ),
        sentences,
        list_blocks,
        sub_headings,
        st.sampled_from(NOISE_LINES),
        st.sampled_from(
            ["Etunimi\tMaija", "Sähköposti\tei-osoite", "Puhelin: x", "Edustamani taho/toimija\t", "Titteli\t-"]
        ),
        st.sampled_from(["Kunta tai kaupunki", "- Työllisyysalue", "☒ Järjestö tai seurakunta", "Jokin muu"]),
        st.sampled_from(
            ["Päivämäärä: 31.2.2026", "Päivämäärä: 2026-13-01", "pvm 1.1.1", "Vastattu 20.3.2026 klo 25.61"]
        ),
        st.sampled_from(HOSTILE_ANSWERS[:2] + HOSTILE_ANSWERS[3:] + HOSTILE_ORGANISATIONS),
        st.text(max_size=80),
        st.just(""),
    )
    return "\n".join(draw(st.lists(line, max_size=30))).splitlines()


# --- the importer -----------------------------------------------------------------------------------------------


@PROPERTY
@given(text=st.text(max_size=2_000), options=options_strategy)
def test_any_text_imports_as_a_valid_response_or_stops_with_a_document_error(text: str, options: ImportOptions) -> None:
    outcome(text.splitlines(), options)


@PROPERTY
@given(lines=noisy_documents(), options=options_strategy)
def test_a_statement_gone_wrong_in_any_way_imports_validly_or_stops_with_a_document_error(
    lines: list[str], options: ImportOptions
) -> None:
    outcome(lines, options)


@PROPERTY
@given(lines=noisy_documents(), rtype=st.none() | st.sampled_from(list(RespondentType)))
def test_importing_the_same_document_twice_gives_the_same_response_id(lines: list[str], rtype) -> None:  # noqa: ANN001
    options = ImportOptions(respondent_type=rtype, organization="Esimerkkilän kunta")
    first, again = outcome(lines, options), outcome(list(lines), options)
    assert type(first) is type(again)
    if isinstance(first, ImportResult):
        assert first.response.response_id == again.response.response_id  # type: ignore[union-attr]
        assert first.response == again.response  # type: ignore[union-attr]
    else:
        assert str(first) == str(again)


@PROPERTY
@given(statement=well_formed_statements())
def test_a_plainly_written_statement_keeps_every_answer_under_its_question(statement) -> None:  # noqa: ANN001
    lines, rtype, organisation, expected = statement
    result = import_lines(lines, ImportOptions(respondent_type=rtype), modified_at=MODIFIED_AT)
    assert {a.question: a.text for a in result.response.answers} == expected
    assert result.response.respondent.organization == organisation
    assert result.warnings == ()
    again = import_lines(lines, ImportOptions(respondent_type=rtype), modified_at=MODIFIED_AT)
    assert again.response.response_id == result.response.response_id


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("documents")


@PROPERTY
@given(
    data=st.one_of(
        st.binary(max_size=2_000),
        st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.tuples(st.text(max_size=300), st.binary(min_size=1, max_size=8)).map(
            lambda p: ("Esimerkkilän kunta\n\n1. A?\n\n" + p[0]).encode() + p[1] + b"\n\n2. B?\n\nVastaus.\n"
        ),
    ),
    suffix=st.sampled_from([".txt", ".md", ".docx", ""]),
)
def test_any_file_imports_as_a_valid_response_or_stops_with_a_document_error(
    scratch: Path, data: bytes, suffix: str
) -> None:
    path = scratch / f"document{suffix}"
    path.write_bytes(data)
    try:
        result = import_file(path, ImportOptions(respondent_type=RespondentType.MUNICIPALITY))
    except DocumentError as error:
        assert str(error).strip()
        return
    assert SurveyResponse.model_validate_json(result.response.model_dump_json()) == result.response


# --- the classifier (tests/unit/classify covers st.text with no respondent type) ----------------------------------

CLASSIFIER = shared_classifier()
ROUTABLE = sorted(
    sid
    for sid in CLASSIFIER.taxonomy.ids()
    if sid.startswith("5.") and CLASSIFIER._routable_reference(sid)  # noqa: SLF001 - the classifier's own rule
)
surroundings = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(VOCABULARY + list(INVISIBLE) + ["😀", "<b>", "https://evil.fi", "\n"]), max_size=30).map(
        " ".join
    ),
    st.sampled_from(HOSTILE_ANSWERS[:2] + HOSTILE_ANSWERS[3:]),
)


@PROPERTY
@given(
    text=st.one_of(st.text(max_size=400), surroundings),
    question=st.none() | st.integers(1, 84),
    rtype=st.sampled_from(list(RespondentType)),
)
def test_any_text_from_any_respondent_type_gets_the_same_valid_sections_every_time(
    text: str, question: int | None, rtype: RespondentType
) -> None:
    first = CLASSIFIER.classify(text, question, rtype)
    assert CLASSIFIER.classify(text, question, rtype) == first
    for section in first:
        assert section.section_id in CLASSIFIER.taxonomy
        assert section.reasons and 0.0 <= section.score <= 1.0
        for reason in section.reasons:
            if reason.span is not None:
                assert text[reason.span[0] : reason.span[1]] == reason.match


@PROPERTY
@given(
    before=surroundings,
    after=surroundings,
    section=st.sampled_from(ROUTABLE),
    form=st.sampled_from(["luvussa", "Luvussa", "luvun", "luku", "Luku", "luvusta", "luvuissa"]),
    question=st.none() | st.integers(1, 84),
    rtype=st.none() | st.sampled_from(list(RespondentType)),
)
def test_a_section_named_with_a_form_of_luku_is_routed_whatever_text_surrounds_it(
    before: str, after: str, section: str, form: str, question: int | None, rtype: RespondentType | None
) -> None:
    assume(not re.match(r"[\d.]", after))  # "5.2.2" + "3" would be another id
    text = f"{before} {form} {section} {after}"
    routed = {s.section_id: s for s in CLASSIFIER.classify(text, question, rtype)}
    assert section in routed, f"{section} not routed from {text!r}: {sorted(routed)}"
    reference = [r for r in routed[section].reasons if r.kind == "reference"]
    assert reference and section in reference[0].match
