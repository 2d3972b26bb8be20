"""The document importer turns statements (text, markdown, .docx) into the response the form would post."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import docx
import pytest

from feedback_contracts.questionnaire import load_questionnaire
from feedback_contracts.respondents import RespondentType
from feedback_contracts.responses import RESPONSE_ID_PATTERN, SurveyResponse
from feedback_ingest.importer import DocumentError, ImportOptions, ImportResult, import_file

FIXTURES = Path(__file__).parents[2] / "fixtures"
SEED000 = FIXTURES / "seed000_hameenlinna.txt"
SEED002 = FIXTURES / "seed002_jarjestoneuvottelukunta.txt"
MUNICIPALITY = ImportOptions(respondent_type=RespondentType.MUNICIPALITY)
EMPLOYMENT = ImportOptions(respondent_type=RespondentType.EMPLOYMENT_AREA, organization="TyöHäme")
QUESTION_HEADING = re.compile(r"^\d{1,2}\. ")


def known(number: int) -> str:
    text = load_questionnaire().question(number).text
    assert text is not None
    return text


def write(tmp_path: Path, text: str, name: str = "statement.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def answers_of(result: ImportResult) -> dict[int, str]:
    return {answer.question: answer.text for answer in result.response.answers}


def paragraphs(text: str) -> list[str]:
    return [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]


def municipality_statement(*headings: str) -> str:
    """A three-question municipality statement with the given heading lines and two answer paragraphs each."""
    parts = ["Esimerkkilän kunta"]
    for number, heading in enumerate(headings, start=1):
        parts += [heading, f"Vastaus {number}, ensimmäinen kappale.", f"Vastaus {number}, toinen kappale."]
    return "\n\n".join(parts) + "\n"


EXPECTED_THREE = {
    27: "Vastaus 1, ensimmäinen kappale.\n\nVastaus 1, toinen kappale.",
    28: "Vastaus 2, ensimmäinen kappale.\n\nVastaus 2, toinen kappale.",
    29: "Vastaus 3, ensimmäinen kappale.\n\nVastaus 3, toinen kappale.",
}


# --- the two real statements ------------------------------------------------------------------------------


def test_the_municipality_statement_becomes_questions_27_to_35_of_its_organisation() -> None:
    result = import_file(SEED000, MUNICIPALITY)
    answers = answers_of(result)
    assert sorted(answers) == list(range(27, 36))
    assert result.response.respondent.organization == "Hämeenlinnan kaupunki"
    assert result.response.respondent_type is RespondentType.MUNICIPALITY
    assert result.response.source == "import"
    assert result.response.revision == 1
    assert result.warnings == ()
    assert answers[27].startswith("Luvun 5 neljä strategista painopistettä")
    assert answers[27].endswith("Myös kaupungin pitäjakeskusten elinvoimanäkökulma tulisi huomioida.")
    assert answers[34].startswith("Mahdollisuudet\n\nYhteinen tietopohja (tietoportaali)")
    assert answers[35].endswith("tukisi ennakoivaa ja yhteistä päätöksentekoa.")


def test_every_paragraph_of_the_municipality_statement_lands_in_exactly_one_answer() -> None:
    answers = answers_of(import_file(SEED000, MUNICIPALITY))
    blocks = paragraphs(SEED000.read_text(encoding="utf-8"))
    expected = [b for b in blocks if not QUESTION_HEADING.match(b) and b != "Hämeenlinnan kaupunki"]
    imported = [p for text in answers.values() for p in text.split("\n\n")]
    assert [b for b in expected if b not in imported] == []
    assert len(imported) == len(expected)


def test_no_answer_of_the_municipality_statement_repeats_its_question() -> None:
    answers = answers_of(import_file(SEED000, MUNICIPALITY))
    for number, text in answers.items():
        assert known(number) not in text


def test_the_survey_export_states_its_respondent_type_organisation_and_contact_details() -> None:
    result = import_file(SEED002)
    respondent = result.response.respondent
    assert result.response.respondent_type is RespondentType.ORGANIZATION_OR_PARISH
    assert sorted(answers_of(result)) == list(range(36, 45))
    assert respondent.organization == "Kanta-Hämeen järjestöneuvottelukunta"
    assert respondent.title == "puheenjohtaja"
    assert (respondent.first_name, respondent.last_name) == ("Heikki", "Rantala")
    assert respondent.email == "heikki.rantala@luotsisaatio.fi"
    assert respondent.phone is None  # "Ei vastauksia"
    assert result.warnings == ()


def test_the_survey_export_leaves_out_the_tools_navigation_and_page_notes() -> None:
    for text in answers_of(import_file(SEED002)).values():
        for noise in ("Muokkaa vastausta", "Sulje", "Tämän sivun kysymykset", "Yhteenvetosivu", "aluevaltuusto"):
            assert noise not in text


def test_the_second_question_line_of_question_41_is_not_part_of_its_answer() -> None:
    answer = answers_of(import_file(SEED002))[41]
    assert not answer.startswith("Mitä erityisesti")
    assert answer.startswith("Kaikilla kansalaisilla tulee olla yhdenvertainen oikeus vapaaehtoistyöhön.")


def test_a_sentence_split_by_a_page_break_keeps_both_halves() -> None:
    answer = answers_of(import_file(SEED002))[38]
    assert "luvussa 5.3 Strategisten kumppanuuksien" in answer
    assert "kehittäminen. Strategian tavoitteena" in answer


def test_the_survey_export_gives_the_same_answers_the_form_posts(seed002_response: dict) -> None:
    posted = {a["question"]: a["text"] for a in seed002_response["answers"]}
    assert answers_of(import_file(SEED002)) == posted


# --- .docx --------------------------------------------------------------------------------------------------


def docx_from_text(text: str, path: Path) -> Path:
    """Question headings as Heading 2, other blocks as paragraphs; "- " lines as List Bullet paragraphs."""
    document = docx.Document()
    for block in paragraphs(text):
        if QUESTION_HEADING.match(block):
            document.add_heading(block, level=2)
        elif all(line.startswith("- ") for line in block.splitlines()):
            for line in block.splitlines():
                document.add_paragraph(line.removeprefix("- "), style="List Bullet")
        else:
            document.add_paragraph(block)
    document.save(str(path))
    return path


def test_a_docx_of_the_municipality_statement_imports_like_the_text(tmp_path: Path) -> None:
    from_text = import_file(SEED000, MUNICIPALITY)
    from_docx = import_file(docx_from_text(SEED000.read_text(encoding="utf-8"), tmp_path / "s.docx"), MUNICIPALITY)
    assert answers_of(from_docx) == answers_of(from_text)
    assert from_docx.response.respondent.organization == "Hämeenlinnan kaupunki"
    assert from_docx.response.response_id == from_text.response.response_id


def test_a_docx_of_the_survey_export_keeps_its_lists_together(tmp_path: Path) -> None:
    path = docx_from_text(SEED002.read_text(encoding="utf-8"), tmp_path / "export.docx")
    assert answers_of(import_file(path)) == answers_of(import_file(SEED002))


def test_a_docx_table_of_respondent_details_is_read_like_the_exports_tab_lines(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("1. Vastaajan tiedot", level=2)
    table = document.add_table(rows=2, cols=2)
    details = [("Edustamani taho/toimija", "TyöHäme"), ("Titteli", "johtaja")]
    for row, (label, value) in zip(table.rows, details, strict=True):
        row.cells[0].text, row.cells[1].text = label, value
    document.add_heading("2. Mitä seuraavista edustat?", level=2)
    document.add_paragraph("Työllisyysalue")
    document.add_heading("71.", level=2)
    document.add_paragraph("Vastaus.")
    path = tmp_path / "table.docx"
    document.save(str(path))
    result = import_file(path)
    assert result.response.respondent.organization == "TyöHäme"
    assert result.response.respondent.title == "johtaja"
    assert answers_of(result) == {71: "Vastaus."}


# --- document shapes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "style",
    [
        "{n}. {q}",
        "### {n}. {q}",
        "# {n}. {q}",
        "**{n}.** {q}",
        "**{n}. {q}**",
        "{n}) {q}",
        "Kysymys {n}: {q}",
        "## Kysymys {n}. {q}",
        "{n}.",
        "### {n}",
        "{n}.\n\n{q}",
    ],
)
def test_question_headings_are_recognised_in_any_common_markup(tmp_path: Path, style: str) -> None:
    headings = [style.format(n=n, q=known(26 + n)) for n in (1, 2, 3)]
    result = import_file(write(tmp_path, municipality_statement(*headings)), MUNICIPALITY)
    assert answers_of(result) == EXPECTED_THREE
    assert result.warnings == ()


def test_headings_of_mixed_depth_in_one_document_are_all_questions(tmp_path: Path) -> None:
    headings = [f"# 1. {known(27)}", f"#### 2. {known(28)}", f"3. {known(29)}"]
    assert answers_of(import_file(write(tmp_path, municipality_statement(*headings)), MUNICIPALITY)) == EXPECTED_THREE


def test_an_answer_on_the_heading_line_after_the_known_question_is_kept(tmp_path: Path) -> None:
    text = f"Esimerkkilän kunta\n\n1. {known(27)} Hyvin.\n\nLisäksi toinen kappale.\n"
    answers = answers_of(import_file(write(tmp_path, text), MUNICIPALITY))
    assert answers == {27: "Hyvin.\n\nLisäksi toinen kappale."}


def test_a_heading_wrapped_over_two_lines_is_one_question(tmp_path: Path) -> None:
    first, _, second = known(29).partition(" (")
    text = f"Esimerkkilän kunta\n\n3. {first}\n({second}\n\nVastaus.\n"
    assert answers_of(import_file(write(tmp_path, text), MUNICIPALITY)) == {29: "Vastaus."}


def test_a_long_heading_line_of_an_unknown_question_is_the_question_not_the_answer(tmp_path: Path) -> None:
    question = "Miten " + "työllisyysalueen ja hyvinvointialueen yhteistyö " * 6 + "toimii."
    text = f"# 1. {question}\n\nYhteistyö toimii.\n"
    assert answers_of(import_file(write(tmp_path, text), EMPLOYMENT)) == {71: "Yhteistyö toimii."}


def test_a_second_unknown_question_line_is_taken_as_question_with_a_warning(tmp_path: Path) -> None:
    text = "1. Mitä riskejä näette?\n\nMitä erityisesti nuorten kannalta?\n\nRiskit ovat pienet.\n"
    result = import_file(write(tmp_path, text), EMPLOYMENT)
    assert answers_of(result) == {71: "Riskit ovat pienet."}
    assert any("Mitä erityisesti nuorten kannalta?" in w for w in result.warnings)


def test_an_answer_that_starts_with_a_question_of_its_own_is_kept_when_the_question_is_known(
    tmp_path: Path,
) -> None:
    text = f"Esimerkkilän kunta\n\n1. {known(27)}\n\nMitä tarkoitetaan ekosysteemillä?\n\nSitä ei kerrota.\n"
    answers = answers_of(import_file(write(tmp_path, text), MUNICIPALITY))
    assert answers == {27: "Mitä tarkoitetaan ekosysteemillä?\n\nSitä ei kerrota."}


def test_sub_headings_lists_and_page_break_fragments_stay_in_the_answer(tmp_path: Path) -> None:
    text = (
        "## 1. Miten yhteistyö toimii?\n\n"
        "### Mahdollisuudet\n\n"
        "Yhteinen tietopohja auttaa.\n\n"
        "- ensimmäinen kohta\n- toinen kohta\n  - alakohta\n\n"
        "**Riskit**\n\n"
        "Lause, joka katkeaa sivun\n\n"
        "vaihtoon ja jatkuu.\n"
    )
    answer = answers_of(import_file(write(tmp_path, text), EMPLOYMENT))[71]
    assert answer == (
        "Mahdollisuudet\n\nYhteinen tietopohja auttaa.\n\n"
        "- ensimmäinen kohta\n- toinen kohta\n  - alakohta\n\n"
        "**Riskit**\n\nLause, joka katkeaa sivun\n\nvaihtoon ja jatkuu."
    )


def test_a_numbered_list_inside_an_answer_is_not_taken_for_questions(tmp_path: Path) -> None:
    text = (
        "1. Mitä kehitettävää on?\n\nKolme asiaa:\n\n1. Tieto kulkee.\n2. Vastuut ovat selvät.\n3. Rahoitus.\n\n"
        "2. Mitä muuta?\n\nEi muuta.\n"
    )
    answers = answers_of(import_file(write(tmp_path, text), EMPLOYMENT))
    assert answers == {71: "Kolme asiaa:\n\n1. Tieto kulkee.\n2. Vastuut ovat selvät.\n3. Rahoitus.", 72: "Ei muuta."}


def test_a_plain_numbered_heading_between_clear_questions_is_a_question(tmp_path: Path) -> None:
    text = "1. Mitä hyvää?\n\nPaljon.\n\n2. Kommentit yhdyspinnoista\n\nNiitä on.\n\n3. Mitä muuta?\n\nEi muuta.\n"
    assert answers_of(import_file(write(tmp_path, text), EMPLOYMENT)) == {
        71: "Paljon.",
        72: "Niitä on.",
        73: "Ei muuta.",
    }


def test_a_question_without_answer_text_is_left_out(tmp_path: Path) -> None:
    text = "1. Mitä hyvää?\n\n2. Mitä muuta?\n\nEi muuta.\n"
    assert answers_of(import_file(write(tmp_path, text), EMPLOYMENT)) == {72: "Ei muuta."}


def test_survey_tool_noise_inside_a_statement_is_dropped_silently(tmp_path: Path) -> None:
    text = (
        "Yhteenvetosivu: Lausunto\n\n1. Mitä hyvää?\n\nPaljon.\n\n"
        "Tämän sivun kysymykset nrot 71- 78 ovat VAIN työllisyysalueiden edustajille\n\n Muokkaa vastausta\n\nSulje\n"
    )
    result = import_file(write(tmp_path, text), EMPLOYMENT)
    assert answers_of(result) == {71: "Paljon."}
    assert result.warnings == ()


# --- numbering ----------------------------------------------------------------------------------------------


def test_numbers_inside_the_respondent_types_block_are_global(tmp_path: Path) -> None:
    text = "Esimerkkilän kunta\n\n28. Täsmennettävää?\n\nOn.\n\n30. Tukeeko?\n\nTukee.\n"
    assert answers_of(import_file(write(tmp_path, text), MUNICIPALITY)) == {28: "On.", 30: "Tukee."}


def test_local_numbers_map_onto_the_respondent_types_block(tmp_path: Path) -> None:
    text = "1. Mitä hyvää?\n\nPaljon.\n\n8. Mitä muuta?\n\nEi muuta.\n"
    assert answers_of(import_file(write(tmp_path, text), EMPLOYMENT)) == {71: "Paljon.", 78: "Ei muuta."}


def test_global_numbers_say_the_respondent_type_when_the_document_does_not(tmp_path: Path) -> None:
    text = "Esimerkkilän kunta\n\n27. Miltä näyttää?\n\nHyvältä.\n"
    result = import_file(write(tmp_path, text))
    assert result.response.respondent_type is RespondentType.MUNICIPALITY
    assert answers_of(result) == {27: "Hyvältä."}


def test_a_respondent_type_label_before_the_first_question_is_used(tmp_path: Path) -> None:
    text = "Esimerkkilän kunta\n\nKunta tai kaupunki\n\n1. Miltä näyttää?\n\nHyvältä.\n"
    result = import_file(write(tmp_path, text))
    assert result.response.respondent_type is RespondentType.MUNICIPALITY
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        (
            "".join(f"{n}. Kysymys {n}?\n\nVastaus.\n\n" for n in range(1, 11)),
            MUNICIPALITY,
            "found 10 questions (1-10), but respondent type municipality has only 9 (questions 27-35)",
        ),
        ("1. A?\n\nx\n\n3. B?\n\ny\n\n2. C?\n\nz\n", MUNICIPALITY, "out of order: 2 comes after 3"),
        ("1. A?\n\nx\n\n2. B?\n\ny\n\n2. C?\n\nz\n", MUNICIPALITY, "question 2 appears twice"),
        ("Hyvä strategia.\n\nKiitos.\n", MUNICIPALITY, "found no numbered questions in 2 paragraph(s)"),
        ("36. A?\n\nx\n", MUNICIPALITY, "question 36 is outside respondent type municipality's block 27-35"),
        ("1. A?\n\n2. B?\n", MUNICIPALITY, "found questions 1, 2 but no answer text"),
        ("1. A?\n\nx\n", ImportOptions(), "numbers its questions 1, which may be local numbering"),
        ("1. A?\n\nx\n", ImportOptions(respondent_type=RespondentType.COMPANY), "pass --organization"),
        ("", MUNICIPALITY, "the document has no text"),
    ],
)
def test_an_unrecognisable_structure_is_an_error_saying_what_was_found(
    tmp_path: Path, text: str, options: ImportOptions, message: str
) -> None:
    if "--organization" not in message:
        options = ImportOptions(respondent_type=options.respondent_type, organization="Esimerkkilä")
    with pytest.raises(DocumentError, match=re.escape(message)):
        import_file(write(tmp_path, text), options)


def test_an_answer_over_the_limit_is_an_error_naming_the_question(tmp_path: Path) -> None:
    text = f"Esimerkkilän kunta\n\n1. A?\n\nlyhyt\n\n2. B?\n\n{'x' * 20_001}\n"
    with pytest.raises(DocumentError, match=r"question 28 \(the document's question 2\) has 20001 characters"):
        import_file(write(tmp_path, text), MUNICIPALITY)


def test_an_exports_question_2_without_a_respondent_type_is_an_error(tmp_path: Path) -> None:
    text = SEED002.read_text(encoding="utf-8").replace("\nJärjestö tai seurakunta\n", "\nJokin muu\n")
    with pytest.raises(DocumentError, match="question 2 names no respondent type \\(found 'Jokin muu'\\)"):
        import_file(write(tmp_path, text))


# --- warnings, ids, dates, overrides ------------------------------------------------------------------------


def test_unknown_text_before_the_first_question_is_dropped_with_a_warning(tmp_path: Path) -> None:
    text = "Esimerkkilän kunta\n\nLausunto annettu kunnanhallituksen kokouksessa.\n\n1. A?\n\nx\n"
    result = import_file(write(tmp_path, text), MUNICIPALITY)
    assert result.response.respondent.organization == "Esimerkkilän kunta"
    assert result.warnings == (
        "dropped text before the first question: 'Lausunto annettu kunnanhallituksen kokouksessa.'",
    )


def test_a_warning_quotes_at_most_80_characters_of_the_dropped_text(tmp_path: Path) -> None:
    text = f"Esimerkkilän kunta\n\n{'pitkä ' * 40}\n\n1. A?\n\nx\n"
    (warning,) = import_file(write(tmp_path, text), MUNICIPALITY).warnings
    quoted = warning.split(": ", 1)[1].strip("'")
    assert len(quoted) == 80 and quoted.endswith("…")


def test_the_derived_id_is_the_same_for_the_same_document_and_changes_with_an_answer(tmp_path: Path) -> None:
    text = SEED000.read_text(encoding="utf-8")
    first = import_file(write(tmp_path, text, "a.txt"), MUNICIPALITY).response.response_id
    again = import_file(write(tmp_path, text, "b.txt"), MUNICIPALITY).response.response_id
    changed_text = text.replace("ovat kokonaisuutena kannatettavia", "ovat kokonaisuutena hyviä")
    changed = import_file(write(tmp_path, changed_text, "c.txt"), MUNICIPALITY).response.response_id
    assert first == again != changed
    assert re.fullmatch(RESPONSE_ID_PATTERN, first) and first.startswith("import-")


def test_submitted_at_is_the_files_modification_time_in_utc(tmp_path: Path) -> None:
    path = write(tmp_path, "Esimerkkilän kunta\n\n1. A?\n\nx\n")
    os.utime(path, (1_774_000_000, 1_774_000_000))
    submitted_at = import_file(path, MUNICIPALITY).response.submitted_at
    assert submitted_at == datetime.fromtimestamp(1_774_000_000, tz=UTC)
    assert submitted_at.utcoffset() is not None


def test_a_labelled_date_in_the_document_is_the_submission_time(tmp_path: Path) -> None:
    path = write(tmp_path, "Esimerkkilän kunta\n\nPäivämäärä: 20.3.2026 klo 14.05\n\n1. A?\n\nx\n")
    result = import_file(path, MUNICIPALITY)
    assert result.response.submitted_at.isoformat() == "2026-03-20T14:05:00+02:00"
    assert result.warnings == ()


def test_options_override_what_the_document_says() -> None:
    options = ImportOptions(
        organization="Toinen järjestö", title="sihteeri", response_id="doc-42", survey_id="toinen-kysely"
    )
    response = import_file(SEED002, options).response
    assert (response.respondent.organization, response.respondent.title) == ("Toinen järjestö", "sihteeri")
    assert (response.response_id, response.survey_id) == ("doc-42", "toinen-kysely")
    assert response.respondent.email == "heikki.rantala@luotsisaatio.fi"


def test_an_organisation_option_different_from_the_documents_line_reports_that_line(tmp_path: Path) -> None:
    options = ImportOptions(respondent_type=RespondentType.MUNICIPALITY, organization="Toinen kunta")
    result = import_file(SEED000, options)
    assert result.response.respondent.organization == "Toinen kunta"
    assert result.warnings == ("dropped text before the first question: 'Hämeenlinnan kaupunki'",)


def test_invalid_contact_data_in_the_document_is_left_out_without_repeating_it(tmp_path: Path) -> None:
    text = SEED002.read_text(encoding="utf-8").replace("heikki.rantala@luotsisaatio.fi", "ei-osoite")
    result = import_file(write(tmp_path, text))
    assert result.response.respondent.email is None
    assert result.warnings == ("the document's email address is not valid; left out",)


def test_every_import_validates_as_a_survey_response() -> None:
    for path, options in ((SEED000, MUNICIPALITY), (SEED002, ImportOptions())):
        response = import_file(path, options).response
        assert SurveyResponse.model_validate_json(response.model_dump_json()) == response


# --- question texts -----------------------------------------------------------------------------------------


def questions_of(result: ImportResult) -> dict[int, str | None]:
    return {answer.question: answer.question_text for answer in result.response.answers}


@pytest.mark.parametrize(
    ("seed", "options", "numbers"), [(SEED000, MUNICIPALITY, range(27, 36)), (SEED002, None, range(36, 45))]
)
def test_the_importer_keeps_the_question_texts_the_seed_documents_carry(
    seed: Path, options: ImportOptions | None, numbers: range
) -> None:
    assert questions_of(import_file(seed, options)) == {n: known(n) for n in numbers}


def test_a_question_text_the_questionnaire_does_not_know_is_kept_as_the_document_words_it(tmp_path: Path) -> None:
    # An employment area's questions 71-78 have no text in the questionnaire: routing leans on the document's.
    asked = "Miten hyvinvointialue voi tukea työllistymistä?"
    text = f"TyöHäme\n\n1. {asked}\n\nVastaus.\n"
    result = import_file(write(tmp_path, text), EMPLOYMENT)
    assert questions_of(result) == {71: asked} and answers_of(result) == {71: "Vastaus."}


def test_question_texts_change_neither_the_answers_nor_the_derived_response_id(tmp_path: Path) -> None:
    with_text = import_file(write(tmp_path, "TyöHäme\n\n1. Kysymys työllisyydestä?\n\nVastaus.\n", "a.md"), EMPLOYMENT)
    bare = import_file(write(tmp_path, "TyöHäme\n\n1.\n\nVastaus.\n", "b.md"), EMPLOYMENT)
    assert questions_of(bare) == {71: None}
    assert answers_of(with_text) == answers_of(bare)
    assert with_text.response.response_id == bare.response.response_id
