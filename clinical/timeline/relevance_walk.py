"""The fast reject's hot loop (relevance.py): one walk over every value of a call's resources.

Kept apart, with nothing imported from the project, so that `tools/compile_walk.py` can compile this
file with mypyc (about twice as fast: the walk visits every value of the record, about 0.25 us each in
CPython, and was most of a long record's evaluation). relevance.py uses the compiled module only when it
was compiled from this very source (its SHA-256); otherwise, this one. Both behave the same: the tests
run each on the same records (tests/test_relevance_walk.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Final

# Elements read as identifiers or fixed codes, never as text: counted for the budget, not read for names.
# No reader matches a status or an intent against a vocabulary (they are compared with fixed values), and
# "in-progress" would otherwise keep every running administration for the German "Progress".
NOT_TEXT: Final = frozenset(("id", "reference", "system", "fullUrl", "url", "status", "intent"))
_COUNTED: Final = object()  # a text counted for the budget, seen only as an identifier so far
_MEDICATION: Final = "Medication/"


class Walk:
    """One call's walk: what each distinct text and coding may name, remembered across resources.

    `may_name(text)` and `names_code(system, code)` are the catalog's answers (TermCatalog); the walk
    remembers them per call."""

    def __init__(
        self,
        may_name: Callable[[str], bool],
        names_code: Callable[[str, str], bool],
        element_cap: int,
        stop_above: int | None,
    ) -> None:
        self.may_name = may_name
        self.catalog_names_code = names_code
        self.element_cap = element_cap
        self.limit = sys.maxsize if stop_above is None else stop_above
        self.text_chars = 0
        self.texts: dict[str, object] = {}  # may it name something (True/False), or _COUNTED
        self.codes: dict[tuple[str, str], bool] = {}
        self.medications: dict[str, bool] = {}
        self.references: set[str] = set()  # every distinct reference of the call

    @property
    def over(self) -> bool:
        return self.text_chars > self.limit

    def names_code(self, system: str, code: str) -> bool:
        key = (system, code)
        known = self.codes.get(key)
        if known is None:
            known = self.codes[key] = self.catalog_names_code(system, code)
        return known

    def read(self, resource: Any, medications: dict[str, dict[str, Any]] | None) -> tuple[bool, list[str]]:
        """(may the resource name anything, the references it holds); counts every text once per call.
        Medications it references are read too when `medications` is given. Stops once over budget.

        The hot loop of the fast reject: texts are looked up in one memo (most repeat: systems,
        statuses, the same drug names), and a new text is counted and read at most once."""
        relevant = False
        references: list[str] = []
        pending: list[Any] = [resource]
        texts = self.texts
        known_text = texts.get
        may_name = self.may_name
        cap, limit, chars = self.element_cap, self.limit, self.text_chars
        while pending and chars <= limit:
            node = pending.pop()
            if not isinstance(node, dict):
                for item in node:  # a list
                    if isinstance(item, str):
                        known = known_text(item)
                        if known is None:
                            chars += min(len(item), cap)
                        if known is None or known is _COUNTED:
                            known = texts[item] = may_name(item)
                        if known is True:
                            relevant = True
                    elif isinstance(item, (dict, list)):
                        pending.append(item)
                continue
            if not relevant:
                code = node.get("code")
                if isinstance(code, str) and code:
                    system = node.get("system")
                    if isinstance(system, str) and system and self.names_code(system, code):
                        relevant = True
            for key, value in node.items():
                kind = type(value)
                if kind is str:
                    known = known_text(value)
                    if known is False and key != "reference" and key != "data":
                        continue
                    if known is None:
                        chars += min(len(value), cap)
                        if key in NOT_TEXT:
                            known = texts[value] = _COUNTED
                        else:
                            known = texts[value] = may_name(value)
                    elif known is _COUNTED and key not in NOT_TEXT:
                        known = texts[value] = may_name(value)
                    if known is True:
                        relevant = True
                    if key == "reference":
                        references.append(value)
                        self.references.add(value)
                    elif key == "data":
                        # An attachment's base64 text is decoded by its reader: never ruled out.
                        relevant = True
                elif kind is dict or kind is list:
                    pending.append(value)
                elif isinstance(value, (str, dict, list)):
                    pending.append([value])  # a subclass: read like the rest, through a list
        self.text_chars = chars
        if medications is not None and not relevant:
            relevant = any(self._medication_names(reference, medications) for reference in references)
        return relevant, references

    def _medication_names(self, reference: str, medications: dict[str, dict[str, Any]]) -> bool:
        if _MEDICATION not in reference:
            return False
        key = _MEDICATION + reference.rsplit(_MEDICATION, 1)[-1]
        medication = medications.get(key)
        if medication is None:
            return True  # not in the record: it may be named elsewhere (a draft's bundle); keep it
        known = self.medications.get(key)
        if known is None:
            self.medications[key] = False  # a Medication referencing itself
            known = self.medications[key] = self.read(medication, None)[0]
        return known
