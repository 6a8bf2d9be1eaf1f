"""Imaging history: brain MRIs done or ordered (ImagingStudy, DiagnosticReport, Procedure,
ServiceRequest and draft orders), cross-sectional restaging (CT, MRI, PET: what confirms iRECIST
progression; a radiograph or ultrasound does not), and response assessments in reports and observations:
suspected progression (iUPD) and confirmed progression (iCPD), read with the same phrase rules as
neurological findings ("no evidence of pseudoprogression" is not a suspicion)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from clinical.fhir_data import (
    as_dict,
    as_list,
    as_str,
    codeable_reference_concept,
    codes_of,
    codings,
    concept_texts,
    first_date,
    status_of,
)
from clinical.knowledge import CodeIndex, CodeSystems, PhraseReader, QualifierMatcher, TextMatcher, remembered
from clinical.knowledge.schema import BrainImagingFile, ProgressionTerms, TextMatchingFile
from clinical.labels import shorten
from clinical.patient_record import PatientRecord

# pituitary-mri: an MRI of the sella / pituitary that does not name the brain (German reading review):
# the hypophysitis work-up's study, neither a baseline or central brain MRI nor restaging.
ImagingKind = Literal["brain-mri", "pituitary-mri", "cross-sectional", "other-imaging"]
ImagingState = Literal["done", "ordered"]

_STATE_BY_STATUS: dict[str, dict[str, ImagingState]] = {
    "ImagingStudy": {"available": "done", "registered": "done", "unknown": "done"},
    "DiagnosticReport": {
        "final": "done",
        "amended": "done",
        "corrected": "done",
        "appended": "done",
        "preliminary": "done",
        "partial": "done",
        "registered": "ordered",
        "unknown": "done",
    },
    "Procedure": {
        "completed": "done",
        "in-progress": "ordered",
        "preparation": "ordered",
        "unknown": "done",
    },
    "ServiceRequest": {
        "active": "ordered",
        "on-hold": "ordered",
        "draft": "ordered",
        "completed": "done",
        "unknown": "ordered",
    },
}

DATE_PATHS: dict[str, tuple[str, ...]] = {
    "ImagingStudy": ("started",),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "Procedure": ("performedDateTime", "performedPeriod.start", "occurrenceDateTime"),
    "ServiceRequest": ("occurrenceDateTime", "occurrencePeriod.start", "authoredOn"),
}
_RECORDED_PATHS = ("authoredOn", "issued")
# DiagnosticReport categories meaning radiology (HL7 v2 table 0074 "RAD", LOINC "Radiology").
_RADIOLOGY_CATEGORIES = frozenset(("RAD", "LP29684-5", "18748-4"))
# SNOMED CT 363679005 |Imaging (procedure)|: the category of imaging orders (ours included).
_IMAGING_CATEGORY = "363679005"


# suspected: iUPD; confirmed: iCPD; not-progression: a restaging response without progression (iSD,
# iPR, iCR) that closes an open confirmation.
ProgressionKind = Literal["suspected", "confirmed", "not-progression"]
_KIND_RANK: dict[str, int] = {"confirmed": 2, "suspected": 1, "not-progression": 0}


@dataclass(frozen=True)
class ImagingEvent:
    kind: ImagingKind
    state: ImagingState
    on: date | None
    resource_type: str
    label: str  # the study's own name ("MR Brain WO and W contrast IV"), for card text
    draft_order: bool = False
    recorded_on: date | None = None  # when the order or report was written (authoredOn, issued)
    brain_only: bool = False  # a study of the brain alone: restages brain disease, not body disease

    def known_on(self, day: date) -> bool:
        """Written by that day: a day-by-day replay must not see an order placed later."""
        return self.recorded_on is None or self.recorded_on <= day


@dataclass(frozen=True)
class ProgressionReport:
    kind: ProgressionKind
    on: date
    resource_type: str
    uncertain: bool = False
    brain_only: bool = False  # stated on a brain-only study: only brain imaging confirms it
    # For the card (issue 16 section 6): the study's own name ("CT chest abdomen pelvis with contrast"),
    # the sentence(s) of the report that state the response ("New liver lesions: iUPD"), and the body
    # sites the study's series name. Plain text from the record, never a reference.
    study: str = ""
    statement: str = ""
    sites: tuple[str, ...] = ()


# (kind, tier): "strong" an overall iRECIST response category (iSD / iPR / iCR), "weak" a suspected term
# that yields to any response in the same report (pseudoprogression), "plain" the others.
_Tier = Literal["strong", "weak", "plain"]


@dataclass(frozen=True)
class _Statement:
    kind: ProgressionKind
    uncertain: bool
    tier: _Tier
    text: str
    start: int


class ImagingVocabulary:
    """knowledge/brain-imaging.yaml, indexed."""

    def __init__(
        self,
        data: BrainImagingFile,
        progression: ProgressionTerms,
        reader: PhraseReader,
        systems: CodeSystems,
        text_rules: TextMatchingFile | None = None,
    ) -> None:
        self._brain_mri: CodeIndex[bool] = CodeIndex(systems)
        for entry in data.brain_mri_codes:
            self._brain_mri.add(entry.system, entry.code, True)
        for entry in data.not_brain_mri_codes:
            self._brain_mri.add(entry.system, entry.code, False)
        self._mri_modality: CodeIndex[bool] = CodeIndex(systems)
        for entry in data.mri_modality_codes:
            self._mri_modality.add(entry.system, entry.code, True)
        self._restaging: CodeIndex[bool] = CodeIndex(systems)
        for entry in data.restaging_modality_codes:
            self._restaging.add(entry.system, entry.code, True)
        self._brain_site: CodeIndex[bool] = CodeIndex(systems)
        for entry in data.brain_body_site_codes:
            self._brain_site.add(entry.system, entry.code, True)
        self._mri_terms = TextMatcher((term, term) for term in data.text.mri_terms)
        self._brain_terms = TextMatcher((term, term) for term in data.text.brain_terms)
        self._body_terms = TextMatcher((term, term) for term in data.text.body_terms)
        self._cross_sectional = TextMatcher(
            [(term, True) for term in data.text.cross_sectional_terms]
            + [(term, False) for term in data.text.not_cross_sectional_terms]
        )
        # The first entry of a name wins: the tiered lists go first.
        terms: list[tuple[str, tuple[ProgressionKind, _Tier]]] = [
            (name, ("not-progression", "strong")) for name in progression.stated_response
        ]
        terms += [(name, ("suspected", "weak")) for name in progression.yields_to_response]
        terms += [(name, ("suspected", "plain")) for name in progression.suspected]
        terms += [(name, ("confirmed", "plain")) for name in progression.confirmed]
        terms += [(name, ("not-progression", "plain")) for name in progression.not_progression]
        self._progression: TextMatcher[tuple[ProgressionKind, _Tier]] = TextMatcher(terms)
        self._comparison_before = QualifierMatcher((cue, cue) for cue in progression.comparison_before)
        self._comparison_after = QualifierMatcher((cue, cue) for cue in progression.comparison_after)
        self._comparison_window = text_rules.qualifier_after_max_chars if text_rules is not None else 24
        self._lesion_level = QualifierMatcher((term, term) for term in progression.lesion_level_components)
        self._not_brain_mri = TextMatcher((term, term) for term in data.text.not_brain_mri_terms)
        self._brain_mri_phrases = TextMatcher((term, term) for term in data.text.brain_mri_phrases)
        self._pituitary_terms = TextMatcher((term, term) for term in data.text.pituitary_terms)
        self._reader = reader
        # "iUPD criteria not met": denials specific to response statements, read after the term with
        # the shared phrase rules.
        self._progression_denials = (
            PhraseReader(
                text_rules.model_copy(
                    update={
                        "negation_before": [],
                        "uncertainty_before": [],
                        "history_before": [],
                        "qualifier_after": list(progression.negated_after),
                        "uncertainty_after": [],
                    }
                )
            )
            if text_rules is not None and progression.negated_after
            else None
        )
        self.suggested_order: dict[str, dict[str, str]] = {
            system: {"system": systems.uri(system), "code": value.code, "display": value.display}
            for system, value in data.suggested_order.items()
        }
        self._order_by_language: dict[str, dict[str, dict[str, str]]] = {
            language: {
                system: {"system": systems.uri(system), "code": value.code, "display": value.display}
                for system, value in codes.items()
            }
            for language, codes in data.suggested_order_by_language.items()
        }

    def suggested_order_for(self, language: str) -> dict[str, dict[str, str]]:
        """The suggested order's codes in cards of `language`: the shared ones, and the language's own
        (OPS 3-820 beside CPT 70553 in German cards)."""
        return {**self.suggested_order, **self._order_by_language.get(language, {})}

    def code_verdict(self, concept: Any) -> bool | None:
        """True/False when a coding says brain MRI / a look-alike that is not one; None if silent."""
        verdict = None
        for system, code in codings(concept):
            found = self._brain_mri.lookup(system, code)
            if found is True:
                return True
            if found is False:
                verdict = False
        return verdict

    def text_says_brain_mri(self, text: str) -> bool:
        return (
            self._mri_terms.first(text) is not None
            and self._brain_terms.first(text) is not None
            and not self.text_is_not_brain_mri(text)
        )

    def text_is_not_brain_mri(self, text: str) -> bool:
        """An MR angiogram / venogram or a soft-tissue head-and-neck, orbit or face study, unless the text
        also names the brain MRI itself ("MRI brain and MRA head")."""
        excluded = list(self._not_brain_mri.find(text))
        if not excluded:
            return False
        # "MRI head and neck": the phrase "MRI head" is part of the soft-tissue study's name.
        return not any(
            all(phrase.end <= hit.start or hit.end <= phrase.start for hit in excluded)
            for phrase in self._brain_mri_phrases.find(text)
        )

    def sentence_starts(self, text: str) -> list[int]:
        return self._reader.sentence_starts(text)

    @property
    def max_text_chars(self) -> int:
        return self._reader.max_text_chars

    def title_is_generic(self, text: str) -> bool:
        """A report title that names no body region and no modality but MRI ("MRT", "Befund")."""
        if self.text_names_brain(text) or self._body_terms.first(text) is not None:
            return False
        return self.text_is_cross_sectional(text) is None or self._mri_terms.first(text) is not None

    def text_names_brain(self, text: str) -> bool:
        return self._brain_terms.first(text) is not None

    def text_names_pituitary(self, text: str) -> bool:
        return self._pituitary_terms.first(text) is not None

    def text_says_pituitary_mri(self, text: str) -> bool:
        """An MRI of the sella / pituitary ("MRT Sella / Hypophyse", "Hypophysen-MRT"); a text that also
        names the brain is a brain MRI (checked first by the callers)."""
        return self._mri_terms.first(text) is not None and self.text_names_pituitary(text)

    def brain_only(self, kind: ImagingKind, texts: Sequence[str]) -> bool:
        """A study of the brain alone (a brain MRI, "CT head"), not one that also covers the body."""
        names_brain = kind in ("brain-mri", "pituitary-mri") or any(self.text_names_brain(t) for t in texts)
        return names_brain and not any(self._body_terms.first(text) is not None for text in texts)

    def concepts_say_brain_mri(self, concepts: list[Any], extra_texts: Sequence[str] = ()) -> bool:
        return self.concepts_verdict(concepts, extra_texts) is True

    def concepts_verdict(self, concepts: list[Any], extra_texts: Sequence[str] = ()) -> bool | None:
        """True: a brain MRI; False: a look-alike that is not one (CT head, MRA head, MRI orbits);
        None: the codes and texts do not say."""
        verdicts = [self.code_verdict(concept) for concept in concepts]
        if True in verdicts:
            return True
        if False in verdicts:
            return False
        texts = [text for concept in concepts for text in concept_texts(concept)] + list(extra_texts)
        # A brain protocol often holds an MRA or orbit series ("3D TOF MRA"): one text naming the brain
        # MRI is enough; only a record whose texts name a look-alike and never the brain MRI is one.
        if any(self.text_says_brain_mri(text) for text in texts):
            return True
        return False if any(self.text_is_not_brain_mri(text) for text in texts) else None

    def is_mri_modality(self, value: Any) -> bool:
        return any(self._mri_modality.lookup(system, code) for system, code in codings(value))

    def is_restaging_modality(self, value: Any) -> bool:
        return any(self._restaging.lookup(system, code) for system, code in codings(value))

    def is_brain_site(self, value: Any) -> bool:
        return any(self._brain_site.lookup(system, code) for system, code in codings(value))

    def text_is_cross_sectional(self, text: str) -> bool | None:
        """True for a CT / MRI / PET study name, False for a radiograph or ultrasound, None if silent."""
        verdicts = {hit.value for hit in self._cross_sectional.find(text)}
        if False in verdicts and True not in verdicts:
            return False
        return True if True in verdicts else None

    def progression_in(self, text: str) -> tuple[ProgressionKind, bool] | None:
        """The strongest affirmed or uncertain response statement in the text: (kind, uncertain)."""
        found = _strongest(self.statements_in(text))
        return (found.kind, found.uncertain) if found is not None else None

    def statements_in(self, text: str) -> tuple[_Statement, ...]:
        """Every affirmed or uncertain response statement in one text element."""
        return remembered(self, text, self._statements_in)

    def _statements_in(self, text: str) -> tuple[_Statement, ...]:
        text = self._reader.clip(text)
        hits = list(self._progression.find(text))
        if not hits:
            return ()
        read = self._reader.read(text)
        denials = self._progression_denials
        read_denials = denials.read(text) if denials is not None else None
        found: list[_Statement] = []
        for hit in hits:
            kind, tier = hit.value
            certainty = self._reader.certainty(read, hit.start, hit.end)
            if certainty in ("negated", "history"):
                continue
            if (
                denials is not None
                and read_denials is not None
                and denials.certainty(read_denials, hit.start, hit.end) == "negated"
            ):
                continue
            if kind == "suspected" and self._names_compared_study(text, hit.start, hit.end):
                continue
            found.append(_Statement(kind, certainty == "uncertain", tier, text, hit.start))
        return tuple(found)

    def _names_compared_study(self, text: str, start: int, end: int) -> bool:
        """ "compared with the prior iUPD study", "to confirm iUPD", "the iUPD scan of 09-01": the term
        names the earlier study or this study's purpose, not a new suspicion."""
        for cue in self._comparison_before.find(text[:start]):
            gap = text[cue.end : start]
            if len(gap) <= self._comparison_window and not _PHRASE_BREAK.search(gap):
                return True
        after = _ADJACENT.match(text, end)
        return after is not None and any(
            cue.start == after.end() for cue in self._comparison_after.find(text[: after.end() + 40])
        )

    def is_lesion_level(self, concept: Any) -> bool:
        """An Observation.component code naming a lesion-level assessment, not the overall response."""
        return any(self._lesion_level.first(text) is not None for text in concept_texts(concept))

    def report_reading(self, texts: Sequence[str]) -> _Statement | None:
        """The texts of one report (conclusion, conclusion codes, attached text, the study's description,
        its result observations) read as one statement. A stated overall response (iSD, iPR, iCR) makes
        the report a response: no suspected term in it starts a new iUPD; "pseudoprogression" yields to
        any response ("consistent with pseudoprogression; stable disease"). Confirmed progression
        (iCPD) stays the strongest."""
        statements = [found for text in texts for found in self.statements_in(text)]
        responses = [found for found in statements if found.kind == "not-progression"]
        stated = any(found.tier == "strong" for found in responses)
        kept = [
            found
            for found in statements
            if found.kind != "suspected" or not (stated or (responses and found.tier == "weak"))
        ]
        return _strongest(kept)


_PHRASE_BREAK = re.compile(r"[.;,\n]")
_ADJACENT = re.compile(r"[\s\-)]*")


def _strongest(statements: Sequence[_Statement]) -> _Statement | None:
    best: _Statement | None = None
    for found in statements:
        if best is None or _KIND_RANK[found.kind] > _KIND_RANK[best.kind]:
            best = found
    return best


def _series(study: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in as_list(study.get("series")) if isinstance(item, dict)]


def _modalities(study: dict[str, Any]) -> list[Any]:
    return as_list(study.get("modality")) + [item.get("modality") for item in _series(study)]


def _procedure_concepts(study: dict[str, Any]) -> list[Any]:
    procedures = [codeable_reference_concept(item) for item in as_list(study.get("procedureCode"))]
    return procedures + [codeable_reference_concept(item) for item in as_list(study.get("procedure"))]


def _imaging_study_is_brain_mri(study: dict[str, Any], vocabulary: ImagingVocabulary) -> bool:
    procedures = _procedure_concepts(study)
    descriptions = [text for text in [as_str(study.get("description"))] if text]
    series = _series(study)
    descriptions += [text for item in series if (text := as_str(item.get("description")))]
    verdict = vocabulary.concepts_verdict(procedures, descriptions)
    if verdict is not None:
        # An MRA head or an MRI of the orbits is not a brain MRI, whatever its modality and body site.
        return verdict
    if not any(vocabulary.is_mri_modality(modality) for modality in _modalities(study)):
        return False
    sites = [codeable_reference_concept(item.get("bodySite")) for item in series]
    if any(vocabulary.is_brain_site(site) for site in sites):
        return True
    return any(vocabulary.text_names_brain(text) for text in descriptions)


def _is_radiology_report(report: dict[str, Any]) -> bool:
    return any(codes_of(category) & _RADIOLOGY_CATEGORIES for category in as_list(report.get("category")))


def _is_imaging_order(request: dict[str, Any]) -> bool:
    return any(_IMAGING_CATEGORY in codes_of(category) for category in as_list(request.get("category")))


def _study_texts(resource: dict[str, Any], resource_type: str) -> list[str]:
    if resource_type == "ImagingStudy":
        texts = [text for text in [as_str(resource.get("description"))] if text]
        texts += [text for item in _series(resource) if (text := as_str(item.get("description")))]
        for item in as_list(resource.get("procedureCode")) + as_list(resource.get("procedure")):
            texts.extend(concept_texts(codeable_reference_concept(item)))
        return texts
    return list(concept_texts(codeable_reference_concept(resource.get("code"))))


def _imaging_kind(
    resource: dict[str, Any], resource_type: str, texts: list[str], vocabulary: ImagingVocabulary
) -> ImagingKind | None:
    if resource_type == "ImagingStudy":
        modalities = [modality for modality in _modalities(resource) if modality]
        # A sella study is a pituitary MRI even with the head as its body site; a brain code or a text
        # naming the brain keeps it a brain MRI ("MRT Schädel mit Sella-Dünnschichten").
        if (
            _is_pituitary_mri(texts, modalities, vocabulary)
            and not any(vocabulary.text_names_brain(text) for text in texts)
            and not any(vocabulary.code_verdict(concept) for concept in _procedure_concepts(resource))
        ):
            return "pituitary-mri"
        if _imaging_study_is_brain_mri(resource, vocabulary):
            return "brain-mri"
        if any(vocabulary.is_restaging_modality(m) for m in modalities):
            return "cross-sectional"
        if modalities:
            return None  # plain radiographs, ultrasound: not restaging
        return _kind_from_texts(texts, vocabulary)
    if vocabulary.concepts_say_brain_mri([codeable_reference_concept(resource.get("code"))]):
        return "brain-mri"
    if resource_type == "DiagnosticReport" and _conclusion_names_brain_mri(resource, texts, vocabulary):
        return "brain-mri"
    if any(vocabulary.text_says_pituitary_mri(text) for text in texts):
        return "pituitary-mri"
    is_imaging = (resource_type == "DiagnosticReport" and _is_radiology_report(resource)) or (
        resource_type == "ServiceRequest" and _is_imaging_order(resource)
    )
    if resource_type == "Procedure" or is_imaging:
        kind = _kind_from_texts(texts, vocabulary)
        return kind if kind is not None or not is_imaging else "other-imaging"
    return None


def _conclusion_names_brain_mri(
    report: dict[str, Any], titles: list[str], vocabulary: ImagingVocabulary
) -> bool:
    """German review (validation row 103): a report titled only "MRT" or "Befund" whose conclusion
    opens with the brain MRI ("cMRT vom 01.12.: ...", "MRT des Schädels: unauffällig") is a brain MRI.
    A title naming another modality or a body region (a CT chest comparing with last week's brain MRI)
    is never overridden, and only the conclusion's first sentence counts (a comparison comes later)."""
    if not all(vocabulary.title_is_generic(title) for title in titles):
        return False
    conclusions = [text for text in [as_str(report.get("conclusion"))] if text]
    for concept in as_list(report.get("conclusionCode")):
        conclusions.extend(concept_texts(codeable_reference_concept(concept)))
    for text in conclusions:
        text = text[: vocabulary.max_text_chars]
        starts = vocabulary.sentence_starts(text)
        first = text[: starts[1]] if len(starts) > 1 else text
        if vocabulary.text_says_brain_mri(first):
            return True
    return False


def _is_pituitary_mri(texts: list[str], modalities: list[Any], vocabulary: ImagingVocabulary) -> bool:
    """A study of the sella / pituitary: a text naming an MRI of it, or an MR study whose texts name it."""
    if any(vocabulary.text_says_pituitary_mri(text) for text in texts):
        return True
    is_mri = any(vocabulary.is_mri_modality(modality) for modality in modalities)
    return is_mri and any(vocabulary.text_names_pituitary(text) for text in texts)


def _kind_from_texts(texts: list[str], vocabulary: ImagingVocabulary) -> ImagingKind | None:
    verdicts = [vocabulary.text_is_cross_sectional(text) for text in texts]
    if True in verdicts:
        return "cross-sectional"
    if False in verdicts:
        return "other-imaging"
    return None


def _events_of(
    resource: dict[str, Any], resource_type: str, vocabulary: ImagingVocabulary, *, draft: bool, today: date
) -> Iterator[ImagingEvent]:
    state = "ordered" if draft else _STATE_BY_STATUS[resource_type].get(status_of(resource))
    if state is None:
        return
    texts = _study_texts(resource, resource_type)
    kind = _imaging_kind(resource, resource_type, texts, vocabulary)
    if kind is None:
        return
    on = first_date(resource, DATE_PATHS[resource_type]) or (today if draft else None)
    label = texts[0] if texts else ("brain MRI" if kind == "brain-mri" else "imaging study")
    recorded = today if draft else first_date(resource, _RECORDED_PATHS)
    yield ImagingEvent(
        kind,
        state,
        on,
        resource_type,
        shorten(label, 120),
        draft_order=draft,
        recorded_on=recorded,
        brain_only=vocabulary.brain_only(kind, texts),
    )


def find_imaging(
    record: PatientRecord, draft_orders: list[dict[str, Any]], vocabulary: ImagingVocabulary, today: date
) -> list[ImagingEvent]:
    events: list[ImagingEvent] = []
    for resource_type in _STATE_BY_STATUS:
        for resource in record.of_type(resource_type):
            events.extend(_events_of(resource, resource_type, vocabulary, draft=False, today=today))
    for draft in draft_orders:
        if draft.get("resourceType") == "ServiceRequest":
            events.extend(_events_of(draft, "ServiceRequest", vocabulary, draft=True, today=today))
    return events


def _attachment_texts(resource: dict[str, Any]) -> Iterator[str]:
    """The text of a report's presentedForm: plain-text attachments (base64 `data`) and their titles."""
    for attachment in as_list(resource.get("presentedForm")):
        if not isinstance(attachment, dict):
            continue
        title = as_str(attachment.get("title"))
        if title:
            yield title
        content_type = as_str(attachment.get("contentType")) or "text/plain"
        data = as_str(attachment.get("data"))
        if data is None or not content_type.lower().startswith("text/"):
            continue
        try:
            # At most 20,000 characters are read from any text element (text-matching.yaml).
            yield base64.b64decode(data[:_MAX_ATTACHMENT_BASE64], validate=False).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            continue


_MAX_ATTACHMENT_BASE64 = 27_000  # about 20,000 decoded characters


def _progression_texts(resource: dict[str, Any]) -> Iterator[str]:
    yield from concept_texts(resource.get("valueCodeableConcept"))
    for field_name in ("valueString", "conclusion"):
        text = as_str(resource.get(field_name))
        if text:
            yield text
    for concept in as_list(resource.get("conclusionCode")):
        yield from concept_texts(codeable_reference_concept(concept))
    yield from _attachment_texts(resource)


def _on_brain_only_study(resource: dict[str, Any], vocabulary: ImagingVocabulary) -> bool:
    resource_type = resource.get("resourceType")
    if resource_type not in ("DiagnosticReport", "ImagingStudy"):
        return False
    texts = _study_texts(resource, resource_type)
    kind = _imaging_kind(resource, resource_type, texts, vocabulary)
    return kind is not None and vocabulary.brain_only(kind, texts)


_PROGRESSION_DATES: dict[str, tuple[str, ...]] = {
    "Observation": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "ImagingStudy": ("started",),
}
_NOT_A_STATEMENT = frozenset(("entered-in-error", "cancelled", "registered"))
_REPORT_LINKS = (("imagingStudy", "ImagingStudy"), ("result", "Observation"))


def _reference_key(value: Any) -> str | None:
    """ "ImagingStudy/ct-1" from a reference (relative, absolute or versioned)."""
    holder = as_dict(value)
    target = as_str(holder.get("reference")) if holder is not None else None
    if target is None:
        return None
    parts = target.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


def _report_groups(record: PatientRecord) -> list[list[dict[str, Any]]]:
    """Each DiagnosticReport with the ImagingStudy and result Observations it references (one report,
    read as one statement), an Observation derived from a report joining it; then every resource no
    report took, alone."""
    by_key: dict[str, dict[str, Any]] = {}
    for resource_type in _PROGRESSION_DATES:
        for resource in record.of_type(resource_type):
            if isinstance(resource.get("id"), str):
                by_key[f"{resource_type}/{resource['id']}"] = resource
    taken: set[int] = set()
    report_groups: list[list[dict[str, Any]]] = []
    by_report: dict[str, list[dict[str, Any]]] = {}
    for report in record.of_type("DiagnosticReport"):
        group = [report]
        taken.add(id(report))
        for field_name, linked_type in _REPORT_LINKS:
            for link in as_list(report.get(field_name)):
                key = _reference_key(link)
                linked = by_key.get(key) if key and key.startswith(linked_type + "/") else None
                if linked is not None and id(linked) not in taken:
                    group.append(linked)
                    taken.add(id(linked))
        report_groups.append(group)
        if isinstance(report.get("id"), str):
            by_report.setdefault(f"DiagnosticReport/{report['id']}", group)
    loose: list[list[dict[str, Any]]] = []
    for resource_type in ("ImagingStudy", "Observation"):
        for resource in record.of_type(resource_type):
            if id(resource) in taken:
                continue
            sources = [_reference_key(link) for link in as_list(resource.get("derivedFrom"))]
            joined = next((by_report[key] for key in sources if key in by_report), None)
            if joined is not None and resource_type == "Observation":
                joined.append(resource)
            else:
                loose.append([resource])
    return report_groups + loose


def _texts_of(resource: dict[str, Any], vocabulary: ImagingVocabulary) -> list[str]:
    resource_type = str(resource.get("resourceType"))
    if resource_type == "ImagingStudy":
        return _study_texts(resource, resource_type)
    texts = list(_progression_texts(resource))
    for component in as_list(resource.get("component")):
        # An iRECIST form: the overall response component counts, lesion-level components do not.
        if isinstance(component, dict) and not vocabulary.is_lesion_level(component.get("code")):
            texts.extend(_component_texts(component))
    return texts


def _component_texts(component: dict[str, Any]) -> Iterator[str]:
    yield from concept_texts(component.get("valueCodeableConcept"))
    text = as_str(component.get("valueString"))
    if text:
        yield text


def _study_name(group: list[dict[str, Any]]) -> str:
    for resource in group:
        resource_type = str(resource.get("resourceType"))
        names = (
            _study_texts(resource, resource_type)
            if resource_type == "ImagingStudy"
            else list(concept_texts(codeable_reference_concept(resource.get("code"))))
        )
        if names:
            return _clipped(names[0], 80)
    return ""


def _sites(group: list[dict[str, Any]]) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for resource in group:
        if resource.get("resourceType") != "ImagingStudy":
            continue
        for item in _series(resource):
            for text in concept_texts(codeable_reference_concept(item.get("bodySite"))):
                names.setdefault(text, None)
                break
    return tuple(list(names)[:4])


def _statement_text(
    found: _Statement, vocabulary: ImagingVocabulary, limit: int = 200, *, with_previous: bool = True
) -> str:
    """The sentence stating the response and the one before it (where the sites usually are); a
    German abbreviation's stops ("V.a. Progress") end no sentence."""
    text = found.text
    starts = vocabulary.sentence_starts(text)
    index = max(i for i, start in enumerate(starts) if start <= found.start)
    begin = starts[max(index - 1, 0)] if with_previous else starts[index]
    following = [start for start in starts if start > found.start]
    end = following[0] if following else len(text)
    return _clipped(text[begin:end], limit)


def _clipped(text: str, limit: int) -> str:
    """Whitespace folded, cut at a word boundary (never mid-word) with an ellipsis."""
    folded = " ".join(text.split())
    if len(folded) <= limit:
        return folded
    cut = folded[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "..."


def find_progression_reports(record: PatientRecord, vocabulary: ImagingVocabulary) -> list[ProgressionReport]:
    """Response statements in report conclusions, conclusion codes, attached report text, observation
    values and imaging study descriptions ("CT CAP - iUPD per iRECIST"). A report, the study and the
    result observations it references are one statement (`ImagingVocabulary.report_reading`): one
    reading per report, the strongest (iCPD over iUPD over iSD/iPR/iCR)."""
    found: list[ProgressionReport] = []
    for group in _report_groups(record):
        members = [resource for resource in group if status_of(resource) not in _NOT_A_STATEMENT]
        if not members or members[0] is not group[0]:
            continue
        head = group[0]
        on = first_date(head, _PROGRESSION_DATES[str(head.get("resourceType"))])
        if on is None:
            continue
        reading = vocabulary.report_reading(
            [text for resource in members for text in _texts_of(resource, vocabulary)]
        )
        if reading is None:
            continue
        # An attached report body may open with a header naming the patient: only the sentence stating
        # the response is quoted from it.
        attached = {text for resource in members for text in _attachment_texts(resource)}
        found.append(
            ProgressionReport(
                reading.kind,
                on,
                str(head.get("resourceType")),
                reading.uncertain,
                any(_on_brain_only_study(resource, vocabulary) for resource in members),
                study=_study_name(group),
                statement=_statement_text(reading, vocabulary, with_previous=reading.text not in attached),
                sites=_sites(group),
            )
        )
    return found
