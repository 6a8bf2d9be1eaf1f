"""Neurological findings: Conditions and Observations coded in SNOMED CT or ICD-10-CM or named in text
(knowledge/neurological-findings.yaml), and the two ICANS assessment scores, which have no LOINC code and
are recognised by name: the ICE score (10 = normal) and, for children under 12, the CAPD (0 = no
delirium). Each finding keeps what the rules need: its kind (severity, syndrome class, the ICANS grade it
implies), a coded ICANS grade, whether the text asserted it or only suspected it, and when it resolved.

v3 (facts): an Observation's components and the members of a panel (hasMember, resolved within the
record) are read as items; a panel's or form's title is not a finding ("ICANS assessment" is routine
documentation: only its scored values and positive items count); a Glasgow Coma Scale total of 8 or less
is depressed consciousness, a total of 15 is normal; an active Condition without any date is current
("undated"); and a later normal score (ICE 10/10, CAPD 0, GCS 15) ends the findings knowledge/ lists.
Report texts and treatments given for a finding are read in `finding_sources.py`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal

from clinical.fhir_data import (
    as_dict,
    as_list,
    as_str,
    codes_of,
    codings,
    concept_texts,
    first_date,
    get_path,
    parse_date,
)
from clinical.knowledge import (
    CodeIndex,
    CodeSystems,
    PhraseReader,
    QualifierMatcher,
    TextMatch,
    TextMatcher,
    normalise_name,
    remembered,
)
from clinical.knowledge.schema import (
    FindingsFile,
    GlasgowComaScale,
    KnownDiseaseText,
    ScoreBand,
    Severity,
    Syndrome,
)
from clinical.patient_record import PatientRecord
from clinical.timeline.code_certainty import coded_certainty

ScoreKind = Literal["ice", "capd"]
NormalKind = Literal["ice", "capd", "gcs"]
_CONDITION_EXCLUDED_VERIFICATION = frozenset(("refuted", "entered-in-error"))
_CONDITION_UNCERTAIN_VERIFICATION = frozenset(("provisional", "differential", "unconfirmed"))
_CONDITION_RESOLVED = frozenset(("resolved", "inactive", "remission"))
_CONDITION_ACTIVE = frozenset(("active", "recurrence", "relapse"))
# A panel of panels is read two levels deep; deeper nesting is not how EHRs chart assessments.
_MAX_PANEL_DEPTH = 2
_VALUE_KEYS = (
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
)
_OBSERVATION_EXCLUDED_STATUS = frozenset(("entered-in-error", "cancelled"))
CONDITION_DATES = ("onsetDateTime", "onsetPeriod.start", "recordedDate")
_ONSET_DATES = ("onsetDateTime", "onsetPeriod.start")
OBSERVATION_DATES = ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued")
_ABATEMENT_DATES = ("abatementDateTime", "abatementPeriod.end", "abatementPeriod.start")
# Any abatement[x] says the condition has abated (FHIR R4: a date, period, age, range or string).
_ABATEMENT_ELEMENTS = ("abatementAge", "abatementRange", "abatementString")
# A score written as text: "5/10", "Score: 5", "ICE 4", "5 of 10" (the first number that is not the
# tool's own maximum after a slash).
_SCORE_FRACTION = re.compile(r"(?<![\w.])(\d{1,2})\s*(?:/|out of|of)\s*\d{1,2}(?![\w.])", re.IGNORECASE)
_SCORE_NUMBER = re.compile(r"(?<![\w.\-])(\d{1,2})(?![\w.])")
# A score right after its name in free text: "ICE 6", "ICE score: 6", "ICE = 6/10", "ICE score of 6".
_SCORE_AFTER_NAME = re.compile(
    r"(?:\s*score)?\s*(?:[:=]|of|is|was)?\s*(\d{1,2})(?:\s*(?:/|out of)\s*\d{1,2})?(?![\w.])",
    re.IGNORECASE,
)
# The digits a score's name ends with ("ICE-10"), which may be the score itself ("ICE 10/10").
_TRAILING_DIGITS = re.compile(r"(?<=[\s\-])\d{1,2}$")
_RANGE_AFTER = re.compile(r"\s*[-\u2013]\s*\d")
_SCORE_AS_FRACTION = re.compile(r"(\d{1,2})\s*(?:/|out of|of)\s*\d{1,2}(?![\w.])", re.IGNORECASE)
# A grade given as an observation's value: "2", "Grade 2", "G2", "grade 0", German "Grad 2".
_VALUE_GRADE = re.compile(r"^\s*(?:grade|grad|gr\.?|g)?\s*([0-5])\s*$", re.IGNORECASE)
# A seizure with its duration: "seizure lasting 10 minutes", "seizure (>5 min)", "seizure for 7 min".
_SEIZURE_DURATION = re.compile(
    r"^[^.;\n]{0,24}?(?:lasting|for|of|over|>|more than|longer than|greater than)\s*(?:>\s*)?"
    r"(\d{1,3})\s*(?:-\s*\d{1,3}\s*)?(?:min|mins|minutes)\b",
    re.IGNORECASE,
)
# "ICANS grade 2", "ICANS, grade 3", "ICANS (grade 1)", "ICANS G2": the grade a text states after the
# name; "grade 3 ICANS", "G3 ICANS" before it.
_STATED_GRADE = re.compile(r"(?:\s*\(\s*ICANS\s*\))?\W{0,3}(?:grade|grad|gr\.?|g)\s*([1-5])\b", re.IGNORECASE)
_GRADE_BEFORE = re.compile(r"\b(?:grade|grad|gr\.?|g)\s*([1-5])\W{0,3}$", re.IGNORECASE)
ICANS = "icans"
# A date right after a known-disease cue ("seit 2010", "letzter Anfall am 03.05.2019", "since 03/2019"),
# with an optional preposition between.
_CUED_DATE = re.compile(
    r"[\s:]*(?:(?:am|im|in|on|vom|von|Jahr|year)\s+)?"
    r"(?:(?P<day>\d{1,2})\.(?P<dmonth>\d{1,2})\.(?P<dyear>\d{4})|(?P<iso>\d{4}-\d{2}-\d{2})"
    r"|(?P<month>\d{1,2})[./](?P<myear>\d{4})|(?P<year>(?:19|20)\d{2}))(?![\w.\-/])",
    re.IGNORECASE,
)
OnsetSaid = Literal["new", "dated", "known"]


@dataclass(frozen=True)
class FindingKind:
    id: str
    display: str
    severity: Severity
    syndrome: Syndrome
    icans_grade: int | None
    also_work_up: tuple[Syndrome, ...] = ()  # encephalomyelitis: the spine as well as the brain
    explained_by_spinal: bool = False  # paraparesis: next to a myelitis the spine's work-up leads
    counts_only_with: tuple[str, ...] = ()  # myocarditis: only with a myositis or myasthenia


@dataclass(frozen=True)
class NeurologicalFinding:
    kind: FindingKind
    coded_grade: int | None  # an ICANS grade the code itself carries (G92.01-G92.05)
    on: date
    resource_type: str
    detail: str  # "code G92.02", "'generalized seizure'", for the card
    uncertain: bool = False
    resolved_on: date | None = None  # resolved / inactive, from this date (date.min: date unknown)
    recorded_on: date | None = None  # when it was written (recordedDate, issued), if later than `on`
    undated: bool = False  # an active Condition with no date at all: current on any day (`on` is a stand-in)
    instant: float = 0.0  # seconds since the epoch when the time of day is charted (orders a day's facts)

    @property
    def documents_icans(self) -> bool:
        return self.kind.id == ICANS and not self.uncertain

    def active_on(self, today: date) -> bool:
        """Known by that day (a replay must not see a diagnosis recorded later) and not resolved."""
        known = self.recorded_on is None or self.recorded_on <= today
        return known and (self.resolved_on is None or self.resolved_on > today)


@dataclass(frozen=True)
class ScoreReading:
    kind: ScoreKind
    score: int
    maximum: int
    on: date
    grade: int | None  # the ASTCT band of the score alone (None: a normal score)
    instant: float = 0.0  # seconds since the epoch when the time of day is charted (orders a day's scores)


@dataclass(frozen=True)
class NormalReading:
    """A normal assessment (ICE 10/10, CAPD 0, GCS 15): it ends the findings knowledge/ lists."""

    kind: NormalKind
    on: date
    instant: float = 0.0


@dataclass(frozen=True)
class _Coded:
    kind: FindingKind | None  # None: a listed alternative cause or non-finding
    grade: int | None
    only_with_onset: bool = False  # a chronic disease's code too: a finding only with a stated onset


class _Score:
    def __init__(self, kind: ScoreKind, maximum: int, bands: list[ScoreBand]) -> None:
        self.kind = kind
        self.maximum = maximum
        self.bands = bands

    def grade(self, score: int) -> int | None:
        for band in self.bands:
            if band.min <= score <= band.max:
                return band.grade
        return None


class _SignPattern:
    """One sign of each group named in the same text, each affirmed or uncertain on its own."""

    def __init__(self, kind: FindingKind, groups: list[list[str]]) -> None:
        self.kind = kind
        self.groups = len(groups)
        self.parts: TextMatcher[int] = TextMatcher(
            (name, index) for index, names in enumerate(groups) for name in names
        )

    def stated(
        self,
        found: list[TextMatch[int]],
        certainty: Callable[[int, int], str],
        text: str,
    ) -> tuple[str, bool] | None:
        """(the signs' words, uncertain) when every group has a stated sign, else None."""
        first: dict[int, tuple[str, bool]] = {}
        for hit in found:
            said = certainty(hit.start, hit.end)
            if said in ("affirmed", "uncertain") and hit.value not in first:
                first[hit.value] = (text[hit.start : hit.end], said == "uncertain")
        if len(first) < self.groups:
            return None
        words = " + ".join(first[index][0] for index in sorted(first))
        return f"{words} (pattern)", any(uncertain for _, uncertain in first.values())


def _cued_date(text: str, position: int, *, end_of_period: bool) -> date | None:
    """The date written right after a cue: its first day ("seit 2010": 2010-01-01) or, for the last
    event, its last day ("letzter Anfall 2019": 2019-12-31)."""
    match = _CUED_DATE.match(text, position, position + 32)
    if match is None:
        return None
    try:
        if match.group("day"):
            return date(int(match.group("dyear")), int(match.group("dmonth")), int(match.group("day")))
        if match.group("iso"):
            return date.fromisoformat(match.group("iso"))
        if match.group("month"):
            year, month = int(match.group("myear")), int(match.group("month"))
            if not end_of_period:
                return date(year, month, 1)
            following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
            return date.fromordinal(following.toordinal() - 1)
    except ValueError:
        return None
    year = int(match.group("year"))
    return date(year, 12, 31) if end_of_period else date(year, 1, 1)


class _KnownDiseaseReader:
    """What a chronic disease's own words say about its onset (knowledge `known_disease_text`)."""

    def __init__(self, words: KnownDiseaseText, reader: PhraseReader) -> None:
        self._new: TextMatcher[bool] = QualifierMatcher((word, True) for word in words.new_event)
        self._known: TextMatcher[bool] = QualifierMatcher((word, True) for word in words.known)
        self._attributed: TextMatcher[bool] = QualifierMatcher(
            (word, True) for word in words.attributed_to_therapy
        )
        self._dated: TextMatcher[bool] = QualifierMatcher(
            [(word, False) for word in words.since] + [(word, True) for word in words.last_event]
        )
        self._reader = reader

    def said(self, texts: list[str]) -> tuple[OnsetSaid, date | None] | None:
        """ "new" (a new-event word, not negated), else "dated" with the latest date a cue gives, else
        "known" (a known-disease word), else None."""
        texts = [self._reader.clip(text) for text in texts]
        for text in texts:
            hits = list(self._new.find(text))
            if hits:
                read = self._reader.read(text)
                said = {self._reader.certainty(read, hit.start, hit.end) for hit in hits}
                if said & {"affirmed", "uncertain"}:
                    return "new", None
        dates = [
            found
            for text in texts
            for hit in self._dated.find(text)
            if (found := _cued_date(text, hit.end, end_of_period=hit.value)) is not None
        ]
        if dates:
            return "dated", max(dates)
        if any(self._known.first(text) is not None for text in texts):
            return "known", None
        if any(self._attributed.first(text) is not None for text in texts):
            return "new", None
        return None


class FindingVocabulary:
    def __init__(self, data: FindingsFile, reader: PhraseReader, systems: CodeSystems) -> None:
        self._codes: CodeIndex[_Coded] = CodeIndex(systems)
        names: list[tuple[str, FindingKind | None]] = []
        self.kinds: dict[str, FindingKind] = {}
        for entry in data.findings:
            kind = FindingKind(
                entry.id,
                entry.display,
                entry.severity,
                entry.syndrome,
                entry.icans_grade,
                tuple(entry.also_work_up),
                entry.explained_by_spinal,
                tuple(entry.counts_only_with),
            )
            self.kinds[kind.id] = kind
            for code in entry.codes:
                self._codes.add(
                    code.system, code.code, _Coded(kind, code.grade, code.only_with_onset), code.match
                )
            names.extend((name, kind) for name in entry.names)
        # Non-findings are matched together with the findings so that the longer name wins: "hepatic
        # encephalopathy" is an alternative cause, not "encephalopathy".
        for excluded in data.not_findings:
            for not_code in excluded.codes:
                self._codes.add(not_code.system, not_code.code, _Coded(None, None), not_code.match)
            names.extend((name, None) for name in excluded.names)
        self._names: TextMatcher[FindingKind | None] = TextMatcher(names)
        self._causes_named: TextMatcher[str] = TextMatcher(
            (name, excluded.id)
            for excluded in data.not_findings
            if excluded.alternative_cause
            for name in excluded.names
        )
        ice, capd = data.ice_score, data.capd_score
        self.ice = _Score("ice", ice.maximum, ice.grades)
        self.capd = _Score("capd", capd.maximum, capd.grades)
        self._score_names: TextMatcher[_Score] = TextMatcher(
            [(name, self.ice) for name in ice.names] + [(name, self.capd) for name in capd.names]
        )
        self._absent_codes: CodeIndex[bool] = CodeIndex(systems)
        for absent in data.absent_value_codes:
            self._absent_codes.add(absent.system, absent.code, True, absent.match)
        prolonged = data.prolonged_seizure
        self.prolonged_seizure: tuple[int, FindingKind, frozenset[str]] | None = None
        if prolonged is not None:
            self.prolonged_seizure = (
                prolonged.minutes,
                self.kinds[prolonged.finding],
                frozenset(prolonged.applies_to),
            )
        self.gcs: GlasgowComaScale | None = data.glasgow_coma_scale
        self.gcs_kind = self.kinds[data.glasgow_coma_scale.finding] if data.glasgow_coma_scale else None
        self._gcs_codes: CodeIndex[bool] = CodeIndex(systems)
        gcs_names: list[tuple[str, bool]] = []
        if data.glasgow_coma_scale is not None:
            gcs = data.glasgow_coma_scale
            for total in gcs.total_codes:
                self._gcs_codes.add(total.system, total.code, True, total.match)
            for item in gcs.item_codes:
                self._gcs_codes.add(item.system, item.code, False, item.match)
            # An item name is longer than the total's ("GCS motor" vs "GCS"): the longer name wins.
            gcs_names = [(name, True) for name in gcs.total_names] + [
                (name, False) for name in gcs.item_names
            ]
        self._gcs_names: TextMatcher[bool] = TextMatcher(gcs_names)
        self.certainty = data.condition_certainty
        ends = data.normal_score_ends
        self.normal_score_ends = frozenset(ends.findings) if ends is not None else frozenset()
        self.ice_unarousable_grade = ice.unarousable_grade
        self.ice_from_age = ice.applies_from_age_years
        self.capd_below_age = capd.applies_below_age_years
        self._reader = reader
        known = data.known_disease_text
        self._known_disease = _KnownDiseaseReader(known, reader) if known is not None else None
        self.narrowed_by_text = {
            entry.id: tuple(entry.narrowed_by_text) for entry in data.findings if entry.narrowed_by_text
        }
        self._results: CodeIndex[FindingKind] = CodeIndex(systems)
        result_names: list[tuple[str, FindingKind]] = []
        for result in data.raised_results:
            for result_code in result.codes:
                self._results.add(
                    result_code.system, result_code.code, self.kinds[result.finding], result_code.match
                )
            result_names.extend((name, self.kinds[result.finding]) for name in result.names)
        self._result_names: TextMatcher[FindingKind] = TextMatcher(result_names)
        self._sign_patterns = [
            _SignPattern(self.kinds[pattern.finding], pattern.all_of) for pattern in data.sign_patterns
        ]
        self.max_text_chars = reader.max_text_chars

    def coded(self, concept: Any, *, onset_stated: bool = False) -> tuple[_Coded, str] | None:
        """The first listed code in the concept (a finding, or None for a listed non-finding); a code
        listed `only_with_onset` without a stated onset is a known chronic disease: no finding, and its
        text ("Primäres Parkinson-Syndrom") is not read as one either."""
        for system, code in codings(concept):
            found = self._codes.lookup(system, code)
            if found is not None and found.only_with_onset and not onset_stated:
                return _Coded(None, None), code
            if found is not None:
                return found, code
        return None

    def chronic_code(self, concept: Any) -> bool:
        """The concept's first listed code is a chronic disease's (a finding only with a stated onset)."""
        for system, code in codings(concept):
            found = self._codes.lookup(system, code)
            if found is not None:
                return found.only_with_onset
        return False

    def onset_in_text(self, texts: list[str]) -> tuple[OnsetSaid, date | None] | None:
        """What the diagnosis's own words say about a chronic disease's onset (`_KnownDiseaseReader`)."""
        return self._known_disease.said(texts) if self._known_disease is not None else None

    def explained_in(self, concept: Any) -> bool:
        """The concept's own text states another cause: it names an alternative cause ("CIPN",
        "alcohol withdrawal delirium") or a finding explained by one ("vincristine-induced
        neuropathy"). Then its code is explained too: a G62.0 labelled "vincristine neuropathy"."""
        for text in concept_texts(concept):
            text = self._reader.clip(text)
            if self._causes_named.first(text) is not None:
                return True
            hits = [hit for hit in self._names.find(text) if hit.value is not None]
            if hits:
                read = self._reader.read(text)
                if any(self._reader.explained(read, hit.start, hit.end) for hit in hits):
                    return True
        return False

    def named(self, text: str) -> Iterator[tuple[FindingKind, str, bool]]:
        """(kind, the words matched, uncertain) for every affirmed or uncertain finding name; for ICANS
        the words include a grade stated right after the name ("ICANS grade 2"); then every sign pattern
        whose signs are all stated. Read once per text and evaluation: a record repeats its texts (the
        same steroid order, read for its indication, hundreds of times)."""
        return iter(remembered(self, text, self._named))

    def _named(self, text: str) -> tuple[tuple[FindingKind, str, bool], ...]:
        return tuple(self._names_in(text))

    def _names_in(self, text: str) -> Iterator[tuple[FindingKind, str, bool]]:
        text = self._reader.clip(text)
        hits = [hit for hit in self._names.find(text)]
        sign_hits = [(pattern, list(pattern.parts.find(text))) for pattern in self._sign_patterns]
        sign_hits = [(pattern, found) for pattern, found in sign_hits if found]
        if not hits and not sign_hits:
            return
        read = self._reader.read(text)
        for pattern, found in sign_hits:
            stated = pattern.stated(found, lambda start, end: self._reader.certainty(read, start, end), text)
            if stated is not None:
                yield pattern.kind, stated[0], stated[1]
        said = [(hit, self._reader.certainty(read, hit.start, hit.end)) for hit in hits]
        # A question answered later in the same text is no suspicion: "Fragestellung: ICANS? ... Der V.a.
        # ICANS hat sich nicht bestätigt" (second confirmatory review, validation row 221). An affirmed
        # name is never answered away.
        last_negated = {
            hit.value.id: hit.start
            for hit, certainty in said
            if hit.value is not None and certainty == "negated"
        }
        for hit, certainty in said:
            if hit.value is None:
                continue
            if certainty == "uncertain" and last_negated.get(hit.value.id, -1) > hit.start:
                continue
            if certainty in ("affirmed", "uncertain"):
                start, end = hit.start, hit.end
                kind = hit.value
                if kind.id == ICANS:
                    after = _STATED_GRADE.match(text, hit.end, hit.end + 16)
                    before = None if after else _GRADE_BEFORE.search(text, max(0, hit.start - 12), hit.start)
                    end = after.end() if after else end
                    start = before.start() if before else start
                kind, end = self._with_duration(kind, text, end)
                yield kind, text[start:end], certainty == "uncertain"

    def _with_duration(self, kind: FindingKind, text: str, end: int) -> tuple[FindingKind, int]:
        """A seizure whose stated duration reaches the prolonged-seizure threshold (ASTCT: > 5 min) is
        a status epilepticus (grade 4)."""
        if self.prolonged_seizure is None:
            return kind, end
        minutes, prolonged, applies_to = self.prolonged_seizure
        if kind.id not in applies_to:
            return kind, end
        duration = _SEIZURE_DURATION.match(text[end : end + 60])
        if duration is None or int(duration.group(1)) < minutes:
            return kind, end
        return prolonged, end + duration.end()

    def result_kind(self, concept: Any) -> FindingKind | None:
        """The finding a laboratory test stands for when raised (troponin: the myocarditis overlap)."""
        for system, code in codings(concept):
            kind = self._results.lookup(system, code)
            if kind is not None:
                return kind
        for text in concept_texts(concept):
            named = self._result_names.first(self._reader.clip(text))
            if named is not None:
                return named
        return None

    def score_in_text(self, text: str) -> tuple[_Score, int] | None:
        """The last score a free text states by name and number ("ICE 6/10", "ICE score: 4", "CAPD 12"):
        a nursing note often carries the ICE score in words only. A name without a number next to it
        ("ICE not done") states nothing."""
        text = self._reader.clip(text)
        stated: tuple[_Score, int] | None = None
        for hit in self._score_names.find(text):
            number = _SCORE_AFTER_NAME.match(text, hit.end)
            digits = _TRAILING_DIGITS.search(text, hit.start, hit.end)
            if number is None and digits is not None:
                # "ICE 10/10" reads as the tool's name "ICE-10" followed by "/10": the number is the score.
                # Only as a fraction: "ICE-10 not done" states no score.
                number = _SCORE_AS_FRACTION.match(text, digits.start())
            if number is not None and int(number.group(1)) <= hit.value.maximum:
                stated = (hit.value, int(number.group(1)))
        return stated

    def code_certainty(self, concept: Any) -> Literal["excluded", "suspected", "history"] | None:
        """The certainty a German diagnosis states on its code (ICD-10-GM Diagnosesicherheit)."""
        return coded_certainty(concept, self.certainty)

    def gcs_in_text(self, text: str) -> int | None:
        """The last GCS total a free text states by name and number ("GCS 7", "GCS total: 14/15");
        an item ("GCS motor 5") is not a total."""
        gcs = self.gcs
        if gcs is None:
            return None
        text = self._reader.clip(text)
        stated = None
        read = None
        for hit in self._gcs_names.find(text):
            number = _SCORE_AFTER_NAME.match(text, hit.end) if hit.value else None
            if number is None or _RANGE_AFTER.match(text, number.end()):
                continue  # no number, or a range ("GCS 3-15")
            read = read or self._reader.read(text)
            affirmed = self._reader.certainty(read, hit.start, number.end()) == "affirmed"
            if affirmed and gcs.minimum <= int(number.group(1)) <= gcs.maximum:
                stated = int(number.group(1))
        return stated

    def gcs_role(self, concept: Any) -> Literal["total", "item"] | None:
        """A Glasgow Coma Scale total or one of its items (eye, verbal, motor), by code or by name."""
        if self.gcs is None:
            return None
        for system, code in codings(concept):
            total = self._gcs_codes.lookup(system, code)
            if total is not None:
                return "total" if total else "item"
        for text in concept_texts(concept):
            hit = next(iter(self._gcs_names.find(text)), None)
            if hit is not None:
                return "total" if hit.value else "item"
        return None

    def score_kind(self, concept: Any) -> _Score | None:
        for text in concept_texts(concept):
            found = self._score_names.first(text)
            if found is not None:
                return found
        return None

    def is_present_value(self, observation: dict[str, Any]) -> bool:
        """A yes-answer: true, "Yes", "Present", "Positive"."""
        if observation.get("valueBoolean") is True:
            return True
        text = _value_text(observation)
        return text is not None and normalise_name(text) in self._reader.present_values

    def is_absent_value(self, observation: dict[str, Any]) -> bool:
        if observation.get("valueBoolean") is False:
            return True
        if _numeric_value(observation) == 0:  # "Seizures (count)": 0
            return True
        concept = observation.get("valueCodeableConcept")
        if any(self._absent_codes.lookup(system, code) for system, code in codings(concept)):
            return True
        values = list(concept_texts(concept))
        text = as_str(observation.get("valueString"))
        if text:
            values.append(text)
        return any(normalise_name(value) in self._reader.absent_values for value in values)


def _named_in(text: str, vocabulary: FindingVocabulary) -> dict[str, tuple[str, bool]]:
    """The findings a text names: id -> (the words, uncertain); affirmed beats uncertain."""
    named: dict[str, tuple[str, bool]] = {}
    for found, words, uncertain in vocabulary.named(text):
        if found.id not in named or (named[found.id][1] and not uncertain):
            named[found.id] = (words, uncertain)
    return named


def _narrowed_by_text(
    kind: FindingKind, concept: Any, vocabulary: FindingVocabulary
) -> tuple[FindingKind, str, bool] | None:
    """The one narrower finding the record's own words name (with those words, and whether only
    suspected), when the code covers several: "Encephalitis" on G04.81, "ICANS Grad 3" on the German G92.
    The diagnosis text speaks first; a coding display that names the broad finding or several narrower
    ones is the catalogue's title ("Sonstige Enzephalitis, Myelitis und Enzephalomyelitis") and narrows
    nothing, while a display the sender wrote that names one narrower finding does."""
    narrower = vocabulary.narrowed_by_text.get(kind.id)
    if not narrower:
        return None
    holder = as_dict(concept)
    own_text = as_str(holder.get("text")) if holder is not None else None
    for text in concept_texts(concept):
        named = _named_in(text, vocabulary)
        candidates = [finding_id for finding_id in narrower if finding_id in named]
        if kind.id in named or len(candidates) > 1:
            if text == own_text:
                return None  # the diagnosis text names the broad finding itself ("encephalomyelitis")
            continue  # the catalogue's title of the code: it covers them all
        if len(candidates) == 1:
            words, uncertain = named[candidates[0]]
            return vocabulary.kinds[candidates[0]], words, uncertain
    return None


def _suspected_in_own_text(concept: Any, vocabulary: FindingVocabulary) -> bool:
    """The diagnosis text names findings only as suspected ("V.a. Krampfanfall", "suspected ICANS"):
    the coded diagnosis is a suspicion too, with or without a Diagnosesicherheit on its code."""
    holder = as_dict(concept)
    text = as_str(holder.get("text")) if holder is not None else None
    if not text:
        return False
    named = _named_in(text, vocabulary)
    return bool(named) and all(uncertain for _, uncertain in named.values())


def concept_findings(
    concept: Any, vocabulary: FindingVocabulary, *, onset_stated: bool = False
) -> Iterator[tuple[FindingKind, int | None, str, bool]]:
    """(kind, coded grade, detail, uncertain) for a concept: its first listed code decides (a listed
    non-finding silences its text too); otherwise every finding its texts name. `onset_stated`: the
    concept is a Condition's code and the Condition states its onset."""
    coded = vocabulary.coded(concept, onset_stated=onset_stated)
    if coded is not None:
        entry, code = coded
        if entry.kind is not None and not vocabulary.explained_in(concept):
            narrowed = _narrowed_by_text(entry.kind, concept, vocabulary)
            suspected = _suspected_in_own_text(concept, vocabulary)
            if narrowed is None:
                yielded = entry.kind.id
                yield entry.kind, entry.grade, f"code {code}", suspected
            else:
                kind, words, uncertain = narrowed
                yielded = kind.id
                grade = _grade_in(words) if kind.id == ICANS else None
                yield kind, grade or entry.grade, f"code {code}, '{words}'", uncertain or suspected
            yield from _own_text_findings(concept, vocabulary, code, yielded)
        return  # a listed alternative cause: its text is not read as a finding either
    for text in concept_texts(concept):
        for kind, name, uncertain in vocabulary.named(text):
            yield kind, _grade_in(name) if kind.id == ICANS else None, f"'{name}'", uncertain


def _grade_in(words: str) -> int | None:
    """The ICANS grade stated in a name's words ("ICANS Grad 3", "grade 2 ICANS")."""
    stated = _STATED_GRADE.search(words) or _GRADE_BEFORE.search(words)
    return int(stated.group(1)) if stated else None


def _own_text_findings(
    concept: Any, vocabulary: FindingVocabulary, code: str, yielded: str
) -> Iterator[tuple[FindingKind, int | None, str, bool]]:
    """The other findings the doctor's own text on a coded concept names, on any code (confirmatory
    German review, class A'): "ICANS Grad 3 nach CAR-T" written on G93.4 or R41.0 is ICANS grade 3, not
    only the code's ungraded encephalopathy. The coding display is the catalogue's title: not read."""
    holder = as_dict(concept)
    text = as_str(holder.get("text")) if holder is not None else None
    if not text:
        return
    seen = {yielded}
    for kind, name, uncertain in vocabulary.named(text):
        if kind.id not in seen:
            seen.add(kind.id)
            yield kind, _grade_in(name) if kind.id == ICANS else None, f"code {code}, '{name}'", uncertain


def _numeric_value(observation: dict[str, Any]) -> int | float | None:
    value: Any = observation.get("valueInteger")
    if value is None:
        quantity = as_dict(observation.get("valueQuantity"))
        value = quantity.get("value") if quantity else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _value_text(observation: dict[str, Any]) -> str | None:
    text = as_str(observation.get("valueString"))
    if text is None:
        concept = as_dict(observation.get("valueCodeableConcept"))
        text = next(concept_texts(concept), None) if concept else None
    return text


def _score_value(observation: dict[str, Any], maximum: int) -> int | None:
    value: Any = _numeric_value(observation)
    if value is None:
        text = _value_text(observation)
        match = (_SCORE_FRACTION.search(text) or _SCORE_NUMBER.search(text)) if text else None
        value = int(match.group(1)) if match else None
    if value is None or value != int(value) or not 0 <= value <= maximum:
        return None
    return int(value)


def _instant(resource: dict[str, Any], paths: tuple[str, ...]) -> float:
    for path in paths:
        text = as_str(get_path(resource, path))
        if text is not None and len(text) > 10:
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


def _stated_grade(observation: dict[str, Any]) -> int | None:
    """The grade an ICANS observation gives as its value ("ICANS grade": 2, "Grade 2"); 0 = none."""
    value = _numeric_value(observation)
    if value is not None:
        return int(value) if value == int(value) and 0 <= value <= 5 else None
    text = _value_text(observation)
    match = _VALUE_GRADE.match(text) if text else None
    return int(match.group(1)) if match else None


def _resolved_on(condition: dict[str, Any]) -> date | None:
    abated = first_date(condition, _ABATEMENT_DATES)
    if codes_of(condition.get("clinicalStatus")) & _CONDITION_RESOLVED:
        return abated or date.min
    if abated is not None:
        return abated
    if condition.get("abatementBoolean") is True:
        return date.min
    if any(condition.get(element) not in (None, "", {}) for element in _ABATEMENT_ELEMENTS):
        return date.min  # abated at an age or in words ("resolved"): no longer active
    return None


def _condition_findings(
    condition: dict[str, Any], vocabulary: FindingVocabulary, today: date
) -> Iterator[NeurologicalFinding]:
    verification = codes_of(condition.get("verificationStatus"))
    if verification & _CONDITION_EXCLUDED_VERIFICATION:
        return
    certainty = vocabulary.code_certainty(condition.get("code"))
    if certainty in ("excluded", "history"):
        return  # "ausgeschlossen", or "Zustand nach": status post is history, not a new event
    on = first_date(condition, CONDITION_DATES)
    resolved = _resolved_on(condition)
    undated = False
    if on is None:
        # v3: an active diagnosis with no onset and no recordedDate (the date only in its text) is
        # current: it counts on any day, and the card says it is undated.
        if resolved is not None or not codes_of(condition.get("clinicalStatus")) & _CONDITION_ACTIVE:
            return
        on, undated = today, True
    provisional = bool(verification & _CONDITION_UNCERTAIN_VERIFICATION) or certainty == "suspected"
    recorded = parse_date(condition.get("recordedDate"))
    instant = _instant(condition, CONDITION_DATES)
    seen: set[str] = set()
    code = condition.get("code")
    onset_stated = first_date(condition, _ONSET_DATES) is not None
    if vocabulary.chronic_code(code):
        onset_stated, dated = _chronic_onset(condition, vocabulary)
        if dated is not None and dated < on:
            on, instant, undated = dated, 0.0, False
    for kind, grade, detail, uncertain in concept_findings(code, vocabulary, onset_stated=onset_stated):
        if kind.id not in seen:
            seen.add(kind.id)
            yield NeurologicalFinding(
                kind,
                grade,
                on,
                "Condition",
                detail,
                uncertain or provisional,
                resolved,
                recorded,
                undated=undated,
                instant=instant,
            )


def _chronic_onset(condition: dict[str, Any], vocabulary: FindingVocabulary) -> tuple[bool, date | None]:
    """(a new event, the date the doctor's words give it) for a chronic disease's diagnosis (epilepsy
    G40.-): its own words (code text, notes) beat the structured onset; without them an onset on the
    day the diagnosis was recorded is no evidence of a new onset (EHRs fill the onset with the day of
    coding: "Bekannte Epilepsie seit 2010" with onset = recordedDate is a known epilepsy)."""
    holder = as_dict(condition.get("code"))
    own = as_str(holder.get("text")) if holder is not None else None
    said = vocabulary.onset_in_text([*([own] if own else []), *_note_texts(condition)])
    if said is not None:
        kind, dated = said
        return kind != "known", dated
    onset = first_date(condition, _ONSET_DATES)
    recorded = parse_date(condition.get("recordedDate"))
    return onset is not None and onset != recorded, None


def _note_texts(resource: dict[str, Any]) -> Iterator[str]:
    for note in as_list(resource.get("note")):
        holder = as_dict(note)
        text = as_str(holder.get("text")) if holder is not None else None
        if text:
            yield text


def _note_findings(
    observation: dict[str, Any], vocabulary: FindingVocabulary, on: date, instant: float
) -> Iterator[NeurologicalFinding]:
    """Findings written in an observation's notes (Annotation.text): a nursing remark beside the value
    ("nur auf Ansprache erweckbar"), read with the phrase rules like any other text (German reading
    review: the fact can live in a note too). A Condition's note is not read: it elaborates the
    diagnosis ("History of seizures": "febrile seizures in childhood") and takes its context from it."""
    for text in _note_texts(observation):
        for kind, grade, detail, uncertain in concept_findings({"text": text}, vocabulary):
            yield NeurologicalFinding(kind, grade, on, "Observation", detail, uncertain, instant=instant)


@dataclass
class ObservationFacts:
    findings: list[NeurologicalFinding]
    scores: list[ScoreReading]
    normals: list[NormalReading]

    def extend(self, other: ObservationFacts) -> None:
        self.findings.extend(other.findings)
        self.scores.extend(other.scores)
        self.normals.extend(other.normals)


def _has_value(observation: dict[str, Any]) -> bool:
    return any(observation.get(key) is not None for key in _VALUE_KEYS)


def _is_normal_score(score: _Score, value: int) -> bool:
    """ICE 10/10, CAPD 0: reassurance, never a finding."""
    return value == (score.maximum if score.kind == "ice" else 0)


def gcs_facts(
    value: int | None, vocabulary: FindingVocabulary, on: date, instant: float, resource_type: str
) -> ObservationFacts:
    """A GCS total of 8 or less is depressed consciousness; 15 is normal; 9-14 is not read."""
    facts = ObservationFacts([], [], [])
    gcs, kind = vocabulary.gcs, vocabulary.gcs_kind
    if gcs is None or kind is None or value is None or value < gcs.minimum:
        return facts
    if value <= gcs.depressed_at_or_below:
        detail = f"GCS {value}/{gcs.maximum}"
        facts.findings.append(NeurologicalFinding(kind, None, on, resource_type, detail, instant=instant))
    elif value == gcs.maximum:
        facts.normals.append(NormalReading("gcs", on, instant))
    return facts


def _item_facts(
    observation: dict[str, Any], vocabulary: FindingVocabulary, on: date, instant: float
) -> ObservationFacts:
    """One observation or one component: its code names what was assessed, its value the answer."""
    facts = ObservationFacts([], [], [])
    code = observation.get("code")
    gcs_role = vocabulary.gcs_role(code)
    if gcs_role == "total" and vocabulary.gcs is not None:
        value = _score_value(observation, vocabulary.gcs.maximum)
        return gcs_facts(value, vocabulary, on, instant, "Observation")
    if gcs_role == "item":
        return facts  # an eye / verbal / motor item alone is not a total; its answer labels are the scale's
    seen: set[str] = set()

    def add(found: Iterable[tuple[FindingKind, int | None, str, bool]], stated: int | None = None) -> None:
        for kind, grade, detail, uncertain in found:
            if kind.id not in seen:
                seen.add(kind.id)
                grade = stated if kind.id == ICANS and stated else grade
                facts.findings.append(
                    NeurologicalFinding(kind, grade, on, "Observation", detail, uncertain, instant=instant)
                )

    def scored(score: _Score, value: int) -> None:
        facts.scores.append(ScoreReading(score.kind, value, score.maximum, on, score.grade(value), instant))
        if _is_normal_score(score, value):
            facts.normals.append(NormalReading(score.kind, on, instant))

    score = vocabulary.score_kind(code)
    if score is not None:
        # A score, never a finding: the ICE tool's full name contains "encephalopathy". Its value's
        # words still count ("0 - unarousable", "unable to perform CAPD: unarousable": grade 4).
        add(_value_findings(observation, vocabulary))
        value = _score_value(observation, score.maximum)
        if value is not None:
            scored(score, value)
        return facts
    result = vocabulary.result_kind(code)
    if result is not None:
        # A laboratory test: a finding only when reported above its range (a normal troponin is none).
        if _raised(observation):
            add([(result, None, _result_detail(observation), False)])
        return facts
    if vocabulary.is_absent_value(observation):
        return facts
    has_value = _has_value(observation)
    if not has_value and observation.get("dataAbsentReason") is not None:
        return facts  # asked about, no answer ("not asked", "unknown"): not a finding
    from_code = list(concept_findings(code, vocabulary))
    stated = None
    if has_value and any(kind.id == ICANS for kind, _, _, _ in from_code):
        # An ICANS assessment row: its value decides. "ICANS grade": 2 is grade 2, 0 no ICANS;
        # "ICE 10/10, no seizures" names no finding; "confusion" is a finding, not ICANS itself.
        stated = _stated_grade(observation)
        if stated == 0:
            return facts
        if stated is None and not vocabulary.is_present_value(observation):
            from_code = []
    elif not has_value and vocabulary.coded(code) is None:
        # v3: "ICANS assessment" with no value is a form's title, not a diagnosis (a coded G92.0x is).
        from_code = [found for found in from_code if found[0].id != ICANS]
    add(from_code, stated)
    add(_value_findings(observation, vocabulary))
    value_text = as_str(observation.get("valueString"))
    in_text = vocabulary.score_in_text(value_text) if value_text else None
    if in_text is not None:
        scored(*in_text)
    if value_text:  # "GCS 7" in a nursing note
        stated_gcs = gcs_facts(vocabulary.gcs_in_text(value_text), vocabulary, on, instant, "Observation")
        facts.findings.extend(found for found in stated_gcs.findings if found.kind.id not in seen)
        facts.normals.extend(stated_gcs.normals)
    return facts


_RAISED_INTERPRETATIONS = frozenset(("H", "HH", "HU", "A", "AA"))


def _raised(observation: dict[str, Any]) -> bool:
    """Reported above its range: an interpretation H, HH, HU, A or AA, or a value above the reference
    range's high end (same unit, or either without one)."""
    interpretations = as_list(observation.get("interpretation"))
    if any(code in _RAISED_INTERPRETATIONS for concept in interpretations for _, code in codings(concept)):
        return True
    quantity = as_dict(observation.get("valueQuantity"))
    if quantity is None or not isinstance(quantity.get("value"), int | float):
        return False
    for reference in as_list(observation.get("referenceRange")):
        high = as_dict(get_path(reference, "high"))
        if high is None or not isinstance(high.get("value"), int | float):
            continue
        units = {as_str(quantity.get("unit")), as_str(high.get("unit"))} - {None}
        if len(units) <= 1 and quantity["value"] > high["value"]:
            return True
    return False


def _result_detail(observation: dict[str, Any]) -> str:
    """ "Troponin T hs 85 ng/L (H)": the test as the record names it, its value, raised."""
    code = as_dict(observation.get("code")) or {}
    name = as_str(code.get("text")) or next(
        (as_str(coding.get("display")) for coding in as_list(code.get("coding")) if as_dict(coding)), None
    )
    quantity = as_dict(observation.get("valueQuantity")) or {}
    value = " ".join(str(part) for part in (quantity.get("value"), quantity.get("unit")) if part is not None)
    return " ".join(part for part in (name or "", value, "(H)") if part)


def _component_as_item(component: dict[str, Any]) -> dict[str, Any]:
    item = {key: value for key, value in component.items() if key.startswith("value")}
    item["code"] = component.get("code")
    if component.get("dataAbsentReason") is not None:
        item["dataAbsentReason"] = component["dataAbsentReason"]
    return item


def reference_target(reference: Any) -> str | None:
    """The `reference` string of a Reference, if it has one."""
    holder = as_dict(reference)
    return as_str(holder.get("reference")) if holder is not None else None


class ObservationIndex:
    """hasMember references resolved within the record: "Observation/id", a relative or absolute URL
    (with or without _history), or "#id" for a resource contained in the panel."""

    def __init__(self, observations: list[dict[str, Any]]) -> None:
        self._by_id = {
            observation["id"]: observation
            for observation in observations
            if isinstance(observation.get("id"), str)
        }

    def resolve(self, panel: dict[str, Any], reference: Any) -> tuple[dict[str, Any], bool] | None:
        """The member and whether it is read only through its panel (contained, or not dated itself)."""
        target = reference_target(reference)
        if target is None:
            return None
        if target.startswith("#"):
            for contained in as_list(panel.get("contained")):
                if isinstance(contained, dict) and contained.get("id") == target[1:]:
                    return contained, True
            return None
        path = target.split("/_history/", 1)[0]
        if "Observation/" not in path:
            return None
        member = self._by_id.get(path.rsplit("Observation/", 1)[-1])
        if member is None:
            return None
        return member, first_date(member, OBSERVATION_DATES) is None


def _observation_facts(
    observation: dict[str, Any],
    vocabulary: FindingVocabulary,
    members: ObservationIndex,
    panel_date: tuple[date, float] | None = None,
    depth: int = 0,
) -> ObservationFacts:
    """An observation with its components and panel members. A panel or form (components or members and
    no value of its own) is read through its items only: its title is not a finding."""
    facts = ObservationFacts([], [], [])
    status = observation.get("status")
    if isinstance(status, str) and status in _OBSERVATION_EXCLUDED_STATUS:
        return facts
    on = first_date(observation, OBSERVATION_DATES)
    instant = _instant(observation, OBSERVATION_DATES)
    if on is None and panel_date is not None:
        on, instant = panel_date
    if on is None:
        return facts
    components = [c for c in as_list(observation.get("component")) if isinstance(c, dict)]
    member_refs = as_list(observation.get("hasMember"))
    is_panel = bool(components or member_refs) and not _has_value(observation)
    if not is_panel:
        facts.extend(_item_facts(observation, vocabulary, on, instant))
    for component in components:
        facts.extend(_item_facts(_component_as_item(component), vocabulary, on, instant))
    facts.findings.extend(_note_findings(observation, vocabulary, on, instant))
    if depth >= _MAX_PANEL_DEPTH:
        return facts
    facts.extend(member_facts(observation, member_refs, vocabulary, members, (on, instant), depth + 1))
    return facts


def member_facts(
    container: dict[str, Any],
    references: list[Any],
    vocabulary: FindingVocabulary,
    members: ObservationIndex,
    container_date: tuple[date, float],
    depth: int = 1,
) -> ObservationFacts:
    """The Observations a panel (hasMember) or a report (result) points at that are read only through it:
    contained ones, and those in the record without a date of their own (they take the container's)."""
    facts = ObservationFacts([], [], [])
    for reference in references:
        resolved = members.resolve(container, reference)
        if resolved is not None and resolved[1]:  # a dated member in the record is read on its own
            facts.extend(_observation_facts(resolved[0], vocabulary, members, container_date, depth))
    return facts


def _value_findings(
    observation: dict[str, Any], vocabulary: FindingVocabulary
) -> Iterator[tuple[FindingKind, int | None, str, bool]]:
    yield from concept_findings(observation.get("valueCodeableConcept"), vocabulary)
    value_text = as_str(observation.get("valueString"))
    if value_text:
        yield from concept_findings({"text": value_text}, vocabulary)


def find_neurological_facts(
    record: PatientRecord, vocabulary: FindingVocabulary, today: date
) -> tuple[list[NeurologicalFinding], list[ScoreReading], list[NormalReading]]:
    """Findings from Conditions and Observations (with components and panel members), ICE / CAPD scores,
    and the normal readings that end findings (`end_by_normal_readings`), in one pass. `today` stands in
    for the date of an undated active Condition."""
    findings: list[NeurologicalFinding] = []
    facts = ObservationFacts([], [], [])
    for condition in record.of_type("Condition"):
        findings.extend(_condition_findings(condition, vocabulary, today))
    observations = record.of_type("Observation")
    members = ObservationIndex(observations)
    for observation in observations:
        facts.extend(_observation_facts(observation, vocabulary, members))
    return findings + facts.findings, facts.scores, facts.normals


def _ends(finding: NeurologicalFinding, reading: NormalReading) -> bool:
    if reading.on != finding.on:
        return reading.on > finding.on
    return reading.instant > finding.instant > 0  # the same day: only when both times are charted


def end_by_normal_readings(
    findings: list[NeurologicalFinding], readings: list[NormalReading], vocabulary: FindingVocabulary
) -> list[NeurologicalFinding]:
    """v3: a later normal ICE (10/10) or CAPD (0) ends the findings knowledge/ lists (the ICE domains and
    consciousness are normal again); a later GCS of 15 ends a GCS-depressed consciousness. An ICANS
    diagnosis on the problem list ends by its own status, not by a score."""
    ended: list[NeurologicalFinding] = []
    gcs_kind = vocabulary.gcs_kind.id if vocabulary.gcs_kind else None
    for finding in findings:
        if finding.kind.id not in vocabulary.normal_score_ends or finding.undated:
            ended.append(finding)
            continue
        if finding.resource_type == "Condition" and finding.kind.id == ICANS:
            ended.append(finding)
            continue
        kinds = ("ice", "capd", "gcs") if finding.kind.id == gcs_kind else ("ice", "capd")
        later = [r.on for r in readings if r.kind in kinds and _ends(finding, r)]
        if later:
            resolved = min(later)
            if finding.resolved_on is None or finding.resolved_on > resolved:
                finding = replace(finding, resolved_on=resolved)
        ended.append(finding)
    return ended


def birth_date(record: PatientRecord) -> date | None:
    for patient in record.of_type("Patient"):
        found = parse_date(patient.get("birthDate"))
        if found is not None:
            return found
    return None


def age_in_years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


__all__ = [
    "ICANS",
    "FindingKind",
    "FindingVocabulary",
    "NeurologicalFinding",
    "NormalReading",
    "ObservationFacts",
    "ObservationIndex",
    "ScoreReading",
    "age_in_years",
    "birth_date",
    "concept_findings",
    "end_by_normal_readings",
    "find_neurological_facts",
    "gcs_facts",
    "member_facts",
    "reference_target",
]
