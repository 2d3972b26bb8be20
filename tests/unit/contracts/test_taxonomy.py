"""The strategy taxonomy parsed from the packaged draft, and the parser on small handmade drafts."""

from __future__ import annotations

import importlib.resources
import re

import pytest
from pydantic import ValidationError

from feedback_contracts.strategy_text import parse_strategy
from feedback_contracts.taxonomy import DATA_FILE, Section, Taxonomy, load_taxonomy

CHAPTER_FIVE = [
    "5",
    "5.1", "5.1.1", "5.1.2", "5.1.3", "5.1.4", "5.1.5",
    "5.2", "5.2.1", "5.2.2", "5.2.3",
    "5.3", "5.3.1", "5.3.1.1", "5.3.1.2", "5.3.1.3", "5.3.1.4", "5.3.1.5", "5.3.1.6", "5.3.1.7", "5.3.2",
    "5.4", "5.4.1", "5.4.2", "5.4.3", "5.4.4", "5.4.5", "5.4.6", "5.4.7", "5.4.8",
]  # fmt: skip


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def draft_text() -> str:
    return (importlib.resources.files("feedback_contracts") / "data" / DATA_FILE).read_text(encoding="utf-8")


def _parts(section_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in section_id.split("."))


# The packaged draft


def test_chapter_five_has_every_priority_section(taxonomy: Taxonomy) -> None:
    assert [sid for sid in taxonomy.ids() if taxonomy.is_within(sid, "5")] == CHAPTER_FIVE


def test_the_draft_has_eight_chapters(taxonomy: Taxonomy) -> None:
    assert [s.id for s in taxonomy.sections if s.depth == 1] == [str(n) for n in range(1, 9)]


@pytest.mark.parametrize(
    ("section_id", "title"),
    [
        ("5", "Strategisten painopisteiden ohjaavat periaatteet"),
        ("5.1.4", "Palvelujen monikanavaisuus ja asiakkaan kohtaaminen"),
        ("5.2.2", "Turvallisuus ja kriisinkestävyys"),
        ("5.3.1.2", "Kuntayhteistyö"),
        ("5.3.1.3", "Järjestö- ja seurakuntayhteistyö sekä 4. sektori"),
        ("5.3.1.6", "Työllisyysalueet kumppanina"),
        ("5.3.1.7", "Ministeriöt ja THL"),
        ("5.4.4", "Laatu ja laadunhallinta"),
        ("2.4", "Palveluverkon määritysperiaatteet"),
    ],
)
def test_titles_are_read_from_the_heading_lines(taxonomy: Taxonomy, section_id: str, title: str) -> None:
    section = taxonomy.get(section_id)
    assert section is not None
    assert section.title == title


@pytest.mark.parametrize(
    ("section_id", "title"),
    [
        ("5.4.6", "Terveydenhuollon näyttöön perustuvat suositukset ja yhtenäiset käytännöt"),
        ("5.4.7", "Digitalisaatio ja tekoäly asiakaslähtöisyyden, yhdenvertaisuuden ja vaikuttavuuden mahdollistajana"),
        ("6", "Tiivistelmä – Yhteiset linjaukset palveluiden järjestämiselle ja kehittämiselle"),
        ("7", "Palvelustrategian toimeenpanoa tukevat ohjelmat ja suunnitelmat"),
        ("7.1", "Omavalvontaohjelma ja omavalvontasuunnitelma sekä asiakas- ja potilasturvallisuussuunnitelma"),
    ],
)
def test_titles_that_wrap_onto_the_next_line_are_joined(taxonomy: Taxonomy, section_id: str, title: str) -> None:
    section = taxonomy.get(section_id)
    assert section is not None
    assert section.title == title


def test_parent_links_follow_the_numbering(taxonomy: Taxonomy) -> None:
    assert [taxonomy.get(sid).parent for sid in ("5.3.1.2", "5.3.1", "5.3", "5")] == ["5.3.1", "5.3", "5", None]
    assert taxonomy.ancestors("5.3.1.2") == ["5.3.1", "5.3", "5"]
    for section in taxonomy.sections:
        expected = ".".join(section.id.split(".")[:-1]) or None
        assert section.parent == expected, section.id


def test_ids_are_unique_and_in_document_order(taxonomy: Taxonomy, draft_text: str) -> None:
    ids = taxonomy.ids()
    assert len(ids) == len(set(ids))
    assert [_parts(sid) for sid in ids] == sorted(_parts(sid) for sid in ids)
    position = 0
    for section in taxonomy.sections:
        heading = re.compile(rf"^\s*{re.escape(section.id)}\s+{re.escape(section.title.split()[0])}", re.MULTILINE)
        found = heading.search(draft_text, position)
        assert found is not None, section.id
        position = found.end()


def test_page_numbers_never_become_sections_or_body_text(taxonomy: Taxonomy, draft_text: str) -> None:
    assert "29 / 68" in draft_text
    assert all(int(sid.split(".")[0]) <= 8 for sid in taxonomy.ids())
    for section in taxonomy.sections:
        assert "/ 68" not in section.body, section.id
        assert "/ 68" not in section.title, section.id


def test_a_paragraph_split_by_a_page_break_is_joined_again(taxonomy: Taxonomy) -> None:
    assert "joiden on määrä olla vuositasolla 12,5 miljoonaa euroa" in taxonomy.get("2.2.2").body
    assert "Toimialakohtaisissa määritysperiaatteissa on teemoja".lower() in taxonomy.get("2.4").body.lower()


def test_numbered_list_items_and_dates_never_become_sections(taxonomy: Taxonomy) -> None:
    titles = {section.title for section in taxonomy.sections}
    for item in (
        "Osallisuus omassa elämässä",
        "Oma Hämeen hankinnoilla tuetaan strategian toteutumista",
        "Hankinnoilla tuetaan toiminnan jatkuvaa uudistamista",
        "Hankinnat ovat ennakoitavia ja niistä viestitään avoimesti",
        "Palvelusetelien käyttöä edistetään laajasti eri palveluissa, huomioiden palveluiden",
    ):
        assert not any(title.startswith(item) for title in titles), item
    assert taxonomy.get("4").title == "Oma Hämeen strategia"
    assert "4 Hankinnat ovat ennakoitavia ja niistä viestitään avoimesti" in taxonomy.get("5.3.2").body
    assert "4 Palveluseteliä tarjotaan asiakkaalle vaihtoehtoisena järjestämistapana" in taxonomy.get("3.2").body
    assert "1. Osallisuus omassa elämässä" in taxonomy.get("2.1.4").body
    assert "27.01.2025 § 23 hyväksynyt ensihoidon palvelutasopäätöksen" in taxonomy.get("2.1.3").body


def test_figure_captions_footnotes_and_urls_are_dropped_from_bodies(taxonomy: Taxonomy) -> None:
    for section in taxonomy.sections:
        assert not re.search(r"\b(?:Kuvio|Kuva) \d+\.", section.body), section.id
        assert "http" not in section.body, section.id
        assert "1*FIT" not in section.body, section.id
    assert "kts. kuvio 7." in taxonomy.get("5.3.1.6").body
    assert "perustuu digitaalisten ja fyysisten palveluiden yhteensovittamiseen" in taxonomy.get("5.4.7").body


def test_bodies_stop_at_the_next_heading(taxonomy: Taxonomy) -> None:
    assert taxonomy.get("5.3.1").body.startswith("Kumppanuuksia kehitetään asiakashyödyn näkökulmasta")
    assert "Yritysyhteistyö" not in taxonomy.get("5.3.1").body
    assert taxonomy.get("5.3.1.7").body.endswith("proaktiivisen reagoinnin muuttuviin elämäntilanteisiin.")


def test_bodies_have_normalised_whitespace(taxonomy: Taxonomy) -> None:
    for section in taxonomy.sections:
        body = section.body
        assert body == body.strip(), section.id
        for paragraph in body.split("\n\n") if body else ():
            assert paragraph, section.id
            assert paragraph == " ".join(paragraph.split()), section.id


def test_chapters_beyond_the_priorities_have_text(taxonomy: Taxonomy) -> None:
    for section_id in ("2", "2.4", "7", "8", "3.1", "3.2"):
        assert taxonomy.get(section_id).body, section_id
    # Chapter 3 goes straight from its heading to 3.1 in the draft, so its own text is empty.
    assert taxonomy.get("3").title == "Palveluiden nykytila"
    assert [s.id for s in taxonomy.children("3")] == ["3.1", "3.2"]


def test_the_tree_can_be_walked(taxonomy: Taxonomy) -> None:
    assert [s.id for s in taxonomy.children("5.3.1")] == [f"5.3.1.{n}" for n in range(1, 8)]
    assert taxonomy.descendants("5.3") == ["5.3.1"] + [f"5.3.1.{n}" for n in range(1, 8)] + ["5.3.2"]
    assert taxonomy.is_within("5.3.1.2", "5.3")
    assert taxonomy.is_within("5.3", "5.3")
    assert not taxonomy.is_within("5.3", "5.3.1.2")
    assert not taxonomy.is_within("5.4.1", "5.3")
    assert taxonomy.get("5.3.1.2").depth == 4
    assert "5.3.1.2" in taxonomy
    assert "5.9" not in taxonomy
    assert taxonomy.get("5.9") is None
    assert taxonomy.children("5.9") == [] and taxonomy.descendants("5.9") == [] and taxonomy.ancestors("5.9") == []


def test_the_packaged_draft_is_parsed_once(taxonomy: Taxonomy) -> None:
    assert load_taxonomy() is taxonomy


# Handmade drafts

SMALL_DRAFT = """\
Palvelustrategia 2030

Sisällys
1 Johdanto ............................ 2
2 Reunaehdot .......................... 3
2.1 Valtakunnallinen ohjaus ........... 3
3 Painopisteet ........................ 4
3.1 Asiakkuus keskiössä ............... 4

 1 Johdanto

Tämä strategia kertoo, miten palvelut
järjestetään.

2 / 9

2\u00a0Reunaehdot
Reunaehdot tulevat laista ja
talouden tilanteesta.

1 Ensimmäinen reunaehto
2 Toinen reunaehto
3 Kolmas reunaehto

2.1 Valtakunnallinen ohjaus ja
sen välineet

Valtio ohjaa alueita, ja ohjauksen vaikutukset näkyvät
3 / 9

kaikessa toiminnassa.
Kuvio 1. Ohjauksen kokonaisuus
3.1 Asiakkuus keskiössä
Asiakas ensin.
3.2.1
Ikääntyneet
Ikääntyneiden palvelut.
"""


def test_a_small_handmade_draft_is_parsed_from_its_body_not_its_contents() -> None:
    taxonomy = parse_strategy(SMALL_DRAFT)
    assert taxonomy.ids() == ["1", "2", "2.1", "3", "3.1", "3.2.1"]
    assert taxonomy.get("1").body == "Tämä strategia kertoo, miten palvelut järjestetään."
    assert taxonomy.get("2").title == "Reunaehdot"
    assert taxonomy.get("2.1").title == "Valtakunnallinen ohjaus ja sen välineet"


def test_page_numbers_list_items_and_captions_stay_out_of_a_handmade_draft() -> None:
    taxonomy = parse_strategy(SMALL_DRAFT)
    assert taxonomy.get("2").body == (
        "Reunaehdot tulevat laista ja talouden tilanteesta.\n\n1 Ensimmäinen reunaehto 2 Toinen reunaehto 3 Kolmas reunaehto"
    )
    assert taxonomy.get("2.1").body == "Valtio ohjaa alueita, ja ohjauksen vaikutukset näkyvät kaikessa toiminnassa."


def test_a_chapter_only_the_contents_names_gets_its_title_from_there() -> None:
    taxonomy = parse_strategy(SMALL_DRAFT)
    assert taxonomy.get("3") == Section(id="3", title="Painopisteet", parent=None, body="")
    assert taxonomy.get("3.1").parent == "3"


def test_a_parent_named_nowhere_falls_back_to_the_nearest_ancestor() -> None:
    section = parse_strategy(SMALL_DRAFT).get("3.2.1")
    assert section == Section(id="3.2.1", title="Ikääntyneet", parent="3", body="Ikääntyneiden palvelut.")


def test_a_heading_printed_without_its_number_is_found_by_its_contents_title() -> None:
    draft = SMALL_DRAFT.replace(
        "Kuvio 1. Ohjauksen kokonaisuus\n", "Kuvio 1. Ohjauksen kokonaisuus\n\nPainopisteet\n\nNeljä painopistettä.\n\n"
    )
    chapter = parse_strategy(draft).get("3")
    assert chapter == Section(id="3", title="Painopisteet", parent=None, body="Neljä painopistettä.")


def test_a_draft_without_contents_still_yields_its_sections() -> None:
    taxonomy = parse_strategy("1 Johdanto\n\nTeksti.\n\n1.1 Tausta\n\nLisää tekstiä.\n")
    assert [(s.id, s.title, s.parent, s.body) for s in taxonomy.sections] == [
        ("1", "Johdanto", None, "Teksti."),
        ("1.1", "Tausta", "1", "Lisää tekstiä."),
    ]


def test_a_taxonomy_refuses_duplicate_ids_and_dangling_parents() -> None:
    with pytest.raises(ValidationError):
        Taxonomy(sections=(Section(id="1", title="A"), Section(id="1", title="B")))
    with pytest.raises(ValidationError):
        Taxonomy(sections=(Section(id="1.1", title="A", parent="1"),))
    with pytest.raises(ValidationError):
        Section(id="1", title="A", owner="x")  # type: ignore[call-arg]
