"""The certainty a German diagnosis states on its code (ICD-10-GM "Diagnosesicherheit", an extension on
Condition.code.coding in the HL7 Germany base profiles, the MII core data set and ISiK): A excluded,
V suspected, Z status post, G confirmed (knowledge/neurological-findings.yaml `condition_certainty`).
Every reader of Conditions asks it: an excluded diagnosis says nothing, wherever it is read."""

from __future__ import annotations

from typing import Any, Literal

from clinical.fhir_data import as_dict, as_list, codings
from clinical.knowledge.schema import ConditionCertainty

CodedCertainty = Literal["excluded", "suspected", "history"]


def coded_certainty(concept: Any, rule: ConditionCertainty | None) -> CodedCertainty | None:
    """The certainty the concept's codings state with the Diagnosesicherheit extension, else None."""
    holder = as_dict(concept)
    if rule is None or holder is None:
        return None
    for coding in as_list(holder.get("coding")):
        extensions = coding.get("extension") if isinstance(coding, dict) else None
        for extension in as_list(extensions):
            found = as_dict(extension)
            if found is None or found.get("url") != rule.url:
                continue
            for system, code in codings(found.get("valueCoding")):
                if system != rule.system:
                    continue
                if code in rule.excluded:
                    return "excluded"
                if code in rule.history:
                    return "history"
                if code in rule.suspected:
                    return "suspected"
    return None


__all__ = ["CodedCertainty", "coded_certainty"]
