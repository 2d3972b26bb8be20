"""Splitting answers into paragraphs as a reader would see them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_BLANK_LINES = re.compile(r"\n\s*\n")
_SPACES = re.compile(r"[ \t]+")
_LIST_ITEM = re.compile(r"^\s*(?:[-•*–]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"[.!?…:;)\"”]\s*$")
# A heading is one short line; a longer line without a full stop is more likely a sentence a page break cut.
_HEADING_MAX_CHARS = 80


@dataclass(frozen=True)
class AnswerParagraph:
    """One paragraph of an answer, with the global number of the question it answers."""

    question: int
    text: str


def split_paragraphs(answers: Iterable[tuple[int, str]]) -> list[AnswerParagraph]:
    """Paragraphs of the answers, in order, each tagged with the question it answers.

    Blocks are separated by blank lines. A block cut mid-sentence (no closing punctuation, the next
    one starting in lower case) is joined to its continuation; a short heading line belongs to the
    block under it; a list stays with the sentence that introduces it.
    """
    paragraphs: list[AnswerParagraph] = []
    for question, text in answers:
        blocks = [_tidy(b) for b in _BLANK_LINES.split(text)]
        blocks = [b for b in blocks if b]
        merged: list[str] = []
        for block in blocks:
            if merged and _continues(merged[-1], block):
                separator = " " if _cut_mid_sentence(merged[-1], block) else "\n"
                merged[-1] = merged[-1] + separator + block
            else:
                merged.append(block)
        paragraphs.extend(AnswerParagraph(question, b) for b in merged)
    return paragraphs


def _tidy(block: str) -> str:
    # Runs of spaces never cross a line break: squeezed in the whole block at once, as line by line, and only
    # where there is a run to squeeze (most blocks have none, and the pattern is slow on long text).
    if "  " in block or "\t" in block:
        block = _SPACES.sub(" ", block)
    lines = [line.strip() for line in block.split("\n")]
    return "\n".join(line for line in lines if line)


def _cut_mid_sentence(previous: str, block: str) -> bool:
    return not _SENTENCE_END.search(previous) and block[:1].islower()


def _is_heading(previous: str) -> bool:
    return "\n" not in previous and len(previous) <= _HEADING_MAX_CHARS and not re.search(r"[.!?]\s*$", previous)


def _continues(previous: str, block: str) -> bool:
    if _cut_mid_sentence(previous, block):
        return True
    if _LIST_ITEM.match(block) and (previous.rstrip().endswith(":") or _LIST_ITEM.match(previous.split("\n")[-1])):
        return True
    return _is_heading(previous) and not _LIST_ITEM.match(previous)
