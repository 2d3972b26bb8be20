"""The questionnaire's numbering and the owners directory's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedback_contracts.owners import OwnersFileError, load_owners, parse_owners
from feedback_contracts.questionnaire import load_questionnaire
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import load_taxonomy


def test_the_questionnaire_has_questions_1_to_84_each_in_one_block() -> None:
    questionnaire = load_questionnaire()
    assert [q.number for q in questionnaire.questions] == list(range(1, 85))
    assert questionnaire.question(1).respondent_type is None
    assert questionnaire.question(27).respondent_type is RespondentType.MUNICIPALITY
    assert questionnaire.question(84).respondent_type is RespondentType.KELA_OR_NEIGHBOUR_COUNTY


def test_question_texts_from_the_seeds_are_known_and_the_others_say_so() -> None:
    questionnaire = load_questionnaire()
    assert questionnaire.question(27).text == "Miltä luvun 5 painopisteiden sisällöt näyttävät kunnan näkökulmasta?"
    assert questionnaire.question(44).text.startswith("Onko palvelustrategiaan liittyen muuta")
    known = [q.number for q in questionnaire.questions if q.text_known]
    assert known == [1, 2, *range(27, 45)]
    assert questionnaire.question(71).text is None and not questionnaire.question(71).text_known


def test_local_numbering_maps_to_the_blocks_global_numbers() -> None:
    questionnaire = load_questionnaire()
    assert questionnaire.global_number(RespondentType.MUNICIPALITY, 1) == 27
    assert questionnaire.global_number(RespondentType.MUNICIPALITY, 9) == 35
    assert questionnaire.global_number(RespondentType.EMPLOYMENT_AREA, 8) == 78
    with pytest.raises(ValueError, match="local question 10 is outside 1-9"):
        questionnaire.global_number(RespondentType.MUNICIPALITY, 10)


OWNERS = """
default_owner: office
owners:
  - id: office
    name: Strategiatoimisto
    email: [office@example.org]
  - id: partners
    name: Kumppanuudet
    chapters: ["5.3.*"]
    email: [partners@example.org]
  - id: municipalities
    name: Kuntayhteistyö
    chapters: ["5.3.1.2"]
    email: [kunnat@example.org, kunnat2@example.org]
    mode: digest
    digest_time: "07:30"
"""


def test_a_subtree_pattern_covers_the_section_and_everything_below_it() -> None:
    directory = parse_owners(OWNERS)
    assert [o.id for o in directory.owners_for("5.3")] == ["partners"]
    assert [o.id for o in directory.owners_for("5.3.1.2")] == ["partners", "municipalities"]
    assert [o.id for o in directory.owners_for("5.30")] == ["office"]


def test_a_section_nobody_covers_goes_to_the_default_owner() -> None:
    directory = parse_owners(OWNERS)
    assert [o.id for o in directory.owners_for("5.2.2")] == ["office"]
    assert [o.id for o in directory.owners_for(None)] == ["office"]


def test_an_unknown_section_id_is_an_error_naming_it() -> None:
    directory = parse_owners(OWNERS.replace('"5.3.1.2"', '"5.3.1.9"'))
    assert directory.check(load_taxonomy()) == ["owner 'municipalities': unknown section '5.3.1.9' (in '5.3.1.9')"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("default_owner: office", "default_owner: nobody"), "default_owner 'nobody' is not one of the owners"),
        (("id: partners", "id: office"), "owner ids must be unique; repeated: office"),
        (("email: [partners@example.org]", "email: []"), "owner 'partners' has neither an email address nor a webhook"),
        (('"5.3.*"', '"5.3.**"'), "chapters"),
        (('"07:30"', '"7.30"'), "digest_time"),
        (("mode: digest", "mode: weekly"), "mode"),
    ],
)
def test_an_invalid_directory_is_refused_with_a_clear_message(change: tuple[str, str], message: str) -> None:
    with pytest.raises(OwnersFileError, match=message.replace("*", r"\*")):
        parse_owners(OWNERS.replace(*change))


def test_a_missing_file_is_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(OwnersFileError, match="missing.yaml: cannot read"):
        load_owners(tmp_path / "missing.yaml")


def test_the_example_directory_covers_every_section_of_chapter_5_and_chapter_8(owners_file: Path) -> None:
    taxonomy = load_taxonomy()
    directory = load_owners(owners_file)
    assert directory.check(taxonomy) == []
    chapter_5_and_8 = [sid for sid in taxonomy.ids() if sid.startswith(("5.", "8"))]
    assert directory.default_only_sections(chapter_5_and_8) == []
    assert all(address.endswith("@example.org") for owner in directory.owners for address in owner.email)
