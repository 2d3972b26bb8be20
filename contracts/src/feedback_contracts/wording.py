"""How routing reasons read in Finnish, the same in every place an owner sees one (alerts, the workspace)."""

from __future__ import annotations

from .events import Reason
from .respondents import RespondentType


def explain(reason: Reason, respondent_type: RespondentType) -> str:
    """One routing reason in plain Finnish."""
    match reason.kind:
        case "reference":
            return f"mainitsee luvun: ”{reason.match}”"
        case "respondent_type":
            return f"vastaajaryhmä: {respondent_type.label_fi}"
        case "title":
            return f"mainitsee luvun otsikon: ”{reason.match}”"
        case "terms":
            return "aihe: " + ", ".join(reason.terms)
        case "similarity":
            topic = ", ".join(reason.terms)
            score = reason.score or 0.0
            return (
                f"aihe: {topic} (samankaltaisuus luvun tekstiin {score:.2f})" if topic else "aihe lähellä luvun tekstiä"
            )
        case "question":
            return "kysymys koskee tätä lukua"
        case "precedent":
            return "samankaltainen kuin aiemmin tänne ohjattu kohta"
        case "correction" if reason.correction is not None:
            note = reason.correction
            return f"siirretty tänne käsin ({note.by_role}): ”{note.reason}”"
        case _:
            return "ei tunnistettua lukua, ohjattu oletusvastaanottajalle"
