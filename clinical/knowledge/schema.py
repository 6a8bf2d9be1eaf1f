"""Declared schemas of the reviewed knowledge files in `knowledge/` and the card files in `cards/`.

Every file is validated against its model at start-up (and by `immuno-cds check-knowledge`): unknown
keys, misspelt enumerations ("warnng") and missing fields stop the service with a message naming the
file, the key path and the allowed values. `export_json_schemas()` writes the same models as JSON
Schema, so reviewers get validation in their editor.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

TherapyClass = Literal["ici", "car_t", "t_cell_engager"]
THERAPY_CLASSES: tuple[TherapyClass, ...] = ("ici", "car_t", "t_cell_engager")
Indicator = Literal["info", "warning", "critical"]
Verification = Literal["verified", "secondary", "unverified"]
Severity = Literal["warning", "critical"]
Syndrome = Literal["central", "spinal", "neuromuscular", "pituitary"]
CodeMatch = Literal["exact", "prefix"]


def _as_text(value: object) -> object:
    # YAML reads an unquoted code such as 1657746 as a number; codes are strings.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Code = Annotated[str, BeforeValidator(_as_text)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    title: str
    url: str | None = None


# --- code-systems.yaml ---------------------------------------------------------------------------------


class CodeSystem(Strict):
    uri: str
    aliases: list[str] = []


class CodeSystemsFile(Strict):
    systems: dict[str, CodeSystem]


# --- therapies.yaml ------------------------------------------------------------------------------------


class TherapyCode(Strict):
    system: str
    code: Code
    kind: Literal["ingredient", "product", "brand", "atc", "atc-legacy", "procedure", "other"]
    verification: Verification
    source: str
    match: CodeMatch = "exact"


class TherapyClassInfo(Strict):
    display: str
    neurotoxicity_syndrome: str


class AgentEntry(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str
    display: str
    therapy_class: TherapyClass = Field(alias="class")
    # German review (row 104): the German INN spelling where it differs ("Axicabtagen-Ciloleucel");
    # without it German cards name the agent as `display` (the antibodies are spelled alike).
    display_de: str | None = None
    target: str = ""
    names: list[str] = Field(min_length=1)
    codes: list[TherapyCode] = []
    generic: bool = False
    # CAR-T only: how the day +28 response is assessed (PET-CT in lymphoma; marrow MRD or IMWG
    # laboratory criteria in B-ALL and myeloma). Only `imaging` products get the day +28 imaging window.
    response_assessment: Literal["imaging", "laboratory"] | None = None
    notes: str | None = None


class ExcludedAgent(Strict):
    id: str
    names: list[str]
    reason: str
    source: str | None = None
    codes: list[TherapyCode] = []


class BridgingContext(Strict):
    """A therapy label ("bridging therapy: glofitamab") names what is given; only the therapy the
    bridge leads to ("bridging chemotherapy before CAR-T infusion") is not given by the record: a
    label, then a destination word, then the name, in one phrase."""

    labels: list[str]
    destinations: list[str]
    source: str


class NotExposureContext(Strict):
    """Words in the phrase of a therapy name that make the record not an exposure to it ("CAR-T
    evaluation", "referral for CAR-T cell therapy", "ipilimumab-naive", "pembrolizumab declined")."""

    before: list[str]
    after: list[str]
    after_max_chars: int = Field(ge=0, le=200)
    source: str
    bridging: BridgingContext | None = None


class ImpliedExposureCode(Strict):
    system: str
    code: Code
    verification: Verification
    source: str
    match: CodeMatch = "exact"


class ImpliedExposureEntry(Strict):
    """A diagnosis that says immune effector cell therapy (CAR-T or a T-cell engager) was given: a
    complication of immune effector cellular therapy (T80.82-), cytokine release syndrome (D89.83-)."""

    id: str
    display: str
    # always: it attributes a neurological finding like a recorded CAR-T does (T80.82-);
    # unexplained: only a finding no recorded therapy explains (CRS also follows transplant).
    when: Literal["always", "unexplained"]
    names: list[str] = []
    codes: list[ImpliedExposureCode] = []
    reason: str


class ImpliedExposure(Strict):
    # A finding up to this many days before the diagnosis counts too: the therapy came before it.
    lookback_days: int = Field(ge=0, le=365)
    entries: list[ImpliedExposureEntry]
    source: str


class TherapiesFile(Strict):
    sources: dict[str, Source]
    classes: dict[TherapyClass, TherapyClassInfo]
    agents: list[AgentEntry]
    excluded: list[ExcludedAgent] = []
    look_alikes: list[str] = []
    not_exposure_context: NotExposureContext | None = None
    implied_exposure: ImpliedExposure | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TherapiesFile:
        ids = [agent.id for agent in self.agents]
        duplicates = sorted({agent_id for agent_id in ids if ids.count(agent_id) > 1})
        if duplicates:
            raise ValueError(f"agent ids must be unique: {duplicates}")
        for agent in self.agents:
            for code in agent.codes:
                if code.source not in self.sources:
                    raise ValueError(
                        f"agent {agent.id}: code {code.code} names unknown source {code.source!r}"
                    )
            if agent.therapy_class == "car_t" and not agent.generic and agent.response_assessment is None:
                raise ValueError(
                    f"CAR-T agent {agent.id}: response_assessment (imaging or laboratory) is required"
                )
            if agent.response_assessment is not None and agent.therapy_class != "car_t":
                raise ValueError(f"agent {agent.id}: response_assessment applies to CAR-T products only")
        for excluded in self.excluded:
            if excluded.source is not None and excluded.source not in self.sources:
                raise ValueError(f"excluded {excluded.id}: unknown source {excluded.source!r}")
        context = self.not_exposure_context
        if context is not None and context.source not in self.sources:
            raise ValueError(f"not_exposure_context: unknown source {context.source!r}")
        return self


# --- neurological-findings.yaml ------------------------------------------------------------------------


class FindingCode(Strict):
    system: str
    code: Code
    grade: int | None = Field(default=None, ge=1, le=5)
    verification: Verification
    source: str
    match: CodeMatch = "exact"
    # German review (validation row 101): a code that is also a known chronic disease's (ICD-10-GM G40
    # Epilepsie, G20 Parkinson-Syndrom) is a finding only on a Condition that states its onset
    # (onsetDateTime / onsetPeriod.start): the rules then see whether the onset falls in the therapy.
    # Without a stated onset, and on any other resource, it is a known disease: neither the code nor its
    # text is a finding.
    only_with_onset: bool = False


class FindingEntry(Strict):
    id: str
    display: str
    # German review (validation row 104): the finding's name in German cards. Every finding needs one
    # when German cards are loaded (start-up fails naming the finding otherwise); where German uses the
    # English term, it is written again here as the explicit fallback.
    display_de: str | None = None
    severity: Severity
    syndrome: Syndrome
    # Further work-up classes the finding needs beside its own (encephalomyelitis: the spine as well).
    also_work_up: list[Syndrome] = []
    # German review (F2): a sign a spinal cord lesion explains (paraparesis): next to a spinal finding
    # the spine's work-up leads.
    explained_by_spinal: bool = False
    # German review (F3): a finding that counts only next to one of these (myocarditis with a myositis
    # or myasthenia); alone it is not a neurological finding.
    counts_only_with: list[str] = []
    # The ASTCT ICANS grade this finding implies by itself (Lee 2019); null when it does not grade.
    icans_grade: int | None = Field(default=None, ge=1, le=5)
    names: list[str] = []
    codes: list[FindingCode] = []
    # v3 review: narrower findings the code's own text may name. A code that covers several findings
    # (ICD-10-CM G04.81 "other encephalitis and encephalomyelitis") with the text "Encephalitis" is the
    # encephalitis the clinician wrote, not encephalomyelitis.
    narrowed_by_text: list[str] = []


class ScoreBand(Strict):
    min: int
    max: int
    grade: int = Field(ge=1, le=5)


class IceScore(Strict):
    names: list[str]
    maximum: int
    grades: list[ScoreBand]
    unarousable_grade: int = Field(ge=1, le=5)
    applies_from_age_years: int
    source: str


class CapdScore(Strict):
    names: list[str]
    maximum: int
    grades: list[ScoreBand]
    applies_below_age_years: int
    unarousable_grade: int = Field(ge=1, le=5)
    source: str
    scale_source: str | None = None  # the CAPD instrument itself (the grades are ASTCT's)


class NotFindingCode(Strict):
    system: str
    code: Code
    verification: Verification
    source: str
    match: CodeMatch = "exact"


class NotFinding(Strict):
    id: str
    display: str
    names: list[str] = []
    codes: list[NotFindingCode] = []
    reason: str
    # A documented alternative cause (hepatic encephalopathy, CIPN, alcohol withdrawal): named in the
    # text of a coded Condition, it explains the coded finding too ("G62.0: vincristine neuropathy").
    alternative_cause: bool = False


class ProlongedSeizure(Strict):
    """A seizure whose stated duration reaches `minutes` is read as the `finding` (status epilepticus)."""

    minutes: int = Field(ge=1)
    applies_to: list[str]  # the finding ids a duration upgrades ("seizure")
    finding: str
    source: str


class GlasgowComaScale(Strict):
    """v3 (facts): the Glasgow Coma Scale total is not an ICANS score, but a total at or below
    `depressed_at_or_below` is the `finding` (severely depressed consciousness); a total of `maximum` is
    normal. Item scores (eye, verbal, motor) are not a total and are not read."""

    total_codes: list[NotFindingCode]
    total_names: list[str]
    item_codes: list[NotFindingCode] = []
    item_names: list[str] = []
    minimum: int = Field(default=3, ge=0)
    maximum: int = Field(default=15, ge=1)
    depressed_at_or_below: int = Field(ge=3)
    finding: str
    source: str


class TreatmentEvidence(Strict):
    """v3 (facts): a treatment given or ordered for one of the `documents` findings documents it."""

    id: str
    names: list[str]  # the treatment as named in the record (drug or procedure)
    resource_types: list[str]
    documents: list[str]  # finding ids the treatment is given for
    verification: Verification
    source: str
    # v3 review: a treatment that is itself second-line for one finding documents that finding whatever
    # the reason's words ("anakinra for neurotoxicity after CAR-T" is steroid-refractory ICANS).
    documents_as: str | None = None


class NormalScoreEnds(Strict):
    """v3 (facts): a later normal ICE (10/10) or CAPD (0) score ends these findings."""

    findings: list[str]
    source: str


class ConditionCertainty(Strict):
    """v3 (facts): a certainty qualifier on the diagnosis code itself (German ICD-10-GM
    "Diagnosesicherheit" extension on Condition.code.coding): excluded, suspected, or history."""

    url: str
    system: str
    excluded: list[str] = []
    suspected: list[str] = []
    history: list[str] = []
    verification: Verification
    source: str


class KnownDiseaseText(Strict):
    """Confirmatory German review (class R): what the diagnosis's own words (code text, notes) say about
    when a chronic disease coded `only_with_onset` (epilepsy G40.-) began. The doctor's text beats the
    structured onset: a new-event word makes it a new event; a past date after a cue ("seit 2010",
    "letzter Anfall 2019") dates it; a known-disease word ("bekannte", "anfallsfrei") makes it known.
    A disease the text attributes to the immunotherapy is new. With none of them, an onset on the day the
    diagnosis was recorded is no evidence of a new onset."""

    new_event: list[str]
    known: list[str]
    since: list[str]  # followed by a date: the disease runs from then ("seit 2010")
    last_event: list[str]  # followed by a date: the last event was then ("letzter Anfall 2019")
    # The doctor attributes the disease to the immunotherapy ("Hypophyseninsuffizienz unter Ipilimumab"):
    # a new event, unless a known-disease word says otherwise ("bekannte Epilepsie, unter Nivolumab
    # anfallsfrei").
    attributed_to_therapy: list[str] = []
    verification: Verification
    source: str


class SignPattern(Strict):
    """A finding recognised from its signs named together in one text: one sign of each group, each
    affirmed or uncertain on its own ("dysphagia to solids and proximal weakness" is the myasthenia /
    myositis pattern under a checkpoint inhibitor, though neither phrase is a finding's name)."""

    finding: str
    all_of: list[list[str]] = Field(min_length=2)
    source: str


class RaisedResult(Strict):
    """German review (F3): a laboratory result reported above its range (interpretation H, HH, HU, A or
    AA, or a value above referenceRange.high) is `finding` (a raised troponin: the myocarditis overlap)."""

    finding: str
    codes: list[NotFindingCode] = []
    names: list[str] = []  # the test's name in Observation.code.text ("Troponin T", "hs-Troponin")


class FindingsFile(Strict):
    sources: dict[str, Source]
    findings: list[FindingEntry]
    ice_score: IceScore
    capd_score: CapdScore
    not_findings: list[NotFinding] = []
    # Coded observation values that mean "absent" (SNOMED CT "No", "Absent").
    absent_value_codes: list[NotFindingCode] = []
    prolonged_seizure: ProlongedSeizure | None = None
    glasgow_coma_scale: GlasgowComaScale | None = None
    treatment_evidence: list[TreatmentEvidence] = []
    # v3 (facts): words that make an order's indication conditional ("give if ICANS grade 2"): read only in
    # the order's own text, shortly before the finding's name.
    treatment_conditional_words: list[str] = []
    normal_score_ends: NormalScoreEnds | None = None
    condition_certainty: ConditionCertainty | None = None
    known_disease_text: KnownDiseaseText | None = None
    sign_patterns: list[SignPattern] = []
    raised_results: list[RaisedResult] = []

    @model_validator(mode="after")
    def _consistent(self) -> FindingsFile:
        ids = [finding.id for finding in self.findings]
        for pattern in self.sign_patterns:
            if pattern.finding not in ids:
                raise ValueError(f"sign_patterns names unknown finding {pattern.finding!r}")
            if pattern.source not in self.sources:
                raise ValueError(f"sign_patterns names unknown source {pattern.source!r}")
        if self.known_disease_text is not None and self.known_disease_text.source not in self.sources:
            raise ValueError(f"known_disease_text names unknown source {self.known_disease_text.source!r}")
        if "icans" not in ids:
            raise ValueError("the finding 'icans' is required (coded ICANS grades and the ICE score use it)")
        prolonged = self.prolonged_seizure
        if prolonged is not None:
            for finding_id in (prolonged.finding, *prolonged.applies_to):
                if finding_id not in ids:
                    raise ValueError(f"prolonged_seizure names unknown finding {finding_id!r}")
        named = [*(self.normal_score_ends.findings if self.normal_score_ends else [])]
        named += [finding_id for treatment in self.treatment_evidence for finding_id in treatment.documents]
        named += [treatment.documents_as for treatment in self.treatment_evidence if treatment.documents_as]
        named += [narrower for finding in self.findings for narrower in finding.narrowed_by_text]
        named += [companion for finding in self.findings for companion in finding.counts_only_with]
        named += [result.finding for result in self.raised_results]
        if self.glasgow_coma_scale is not None:
            named.append(self.glasgow_coma_scale.finding)
        for finding_id in named:
            if finding_id not in ids:
                raise ValueError(
                    f"unknown finding {finding_id!r} in glasgow_coma_scale, treatment_evidence or "
                    "normal_score_ends"
                )
        for finding in self.findings:
            for code in finding.codes:
                if code.source not in self.sources:
                    raise ValueError(
                        f"finding {finding.id}: code {code.code} names unknown source {code.source!r}"
                    )
        return self


# --- brain-imaging.yaml --------------------------------------------------------------------------------


class ImagingCode(Strict):
    system: str
    code: Code
    display: str
    verification: Verification
    source: str


class ImagingText(Strict):
    mri_terms: list[str]
    brain_terms: list[str]
    # Report or order texts naming a cross-sectional study (CT, MRI, PET) count as restaging for
    # iRECIST; plain radiographs and ultrasound do not.
    cross_sectional_terms: list[str]
    not_cross_sectional_terms: list[str]
    # Body regions named by restaging studies: a study naming the brain and none of these is a brain-only
    # study, which does not restage body disease (and a body study does not restage brain disease).
    body_terms: list[str] = []
    # v3 (issue 16 section 8): MR angiography / venography and soft-tissue head-and-neck, orbit or face
    # MRI are not a brain MRI. A text naming one of these counts only when it also names the brain MRI
    # itself with one of brain_mri_phrases ("MRI brain and MRA head" is a brain MRI; "MRA brain" is not).
    not_brain_mri_terms: list[str] = []
    brain_mri_phrases: list[str] = []
    # German reading review: an MRI naming the pituitary / sella and not the brain ("MRT Sella /
    # Hypophyse", "Hypophysen-MRT", "MRI pituitary") is a pituitary MRI: the hypophysitis work-up's own
    # study, not a baseline or central brain MRI.
    pituitary_terms: list[str] = []


class AnticancerCode(Strict):
    system: str
    code: Code
    display: str
    verification: Verification
    source: str
    match: CodeMatch = "exact"


class SystemicAnticancerTherapy(Strict):
    """Systemic anticancer therapy other than a checkpoint inhibitor: started after an iUPD, it is a
    new line of therapy and iRECIST confirmation no longer applies (issue 16 section 6)."""

    codes: list[AnticancerCode]
    # Codes inside those families that are checkpoint inhibitors themselves (ATC L01FF PD-1/PD-L1).
    checkpoint_inhibitor_codes: list[AnticancerCode] = []
    names: list[str]


class SuggestedCode(Strict):
    code: Code
    display: str


class LanguageOrderCode(Strict):
    """A code the suggested order carries beside the others when the card is in a given language (the
    German procedure catalogue OPS for German cards), with its source and verification mark."""

    code: str
    display: str
    verification: Verification
    source: str


class BrainImagingFile(Strict):
    sources: dict[str, Source]
    brain_mri_codes: list[ImagingCode]
    not_brain_mri_codes: list[ImagingCode]
    mri_modality_codes: list[ImagingCode]
    restaging_modality_codes: list[ImagingCode]
    brain_body_site_codes: list[ImagingCode]
    text: ImagingText
    suggested_order: dict[str, SuggestedCode]
    # German review (validation row 104): by card language, by code system: codes added to the order.
    suggested_order_by_language: dict[str, dict[str, LanguageOrderCode]] = {}
    systemic_anticancer_therapy: SystemicAnticancerTherapy | None = None


# --- text-matching.yaml --------------------------------------------------------------------------------


class ProgressionTerms(Strict):
    suspected: list[str]
    confirmed: list[str]
    # Right after a suspected/confirmed term, same phrase: the statement is denied ("iUPD criteria not
    # met"), on top of the shared negation cues.
    negated_after: list[str] = []
    # A restaging that found no progression (iSD, iPR, iCR): it closes an open iUPD confirmation.
    not_progression: list[str] = []
    # v3 (issue 16 section 6). Before / right after a suspected term, same phrase: the term names the
    # earlier study compared against or the purpose of this one ("compared with the iUPD study",
    # "iUPD confirmation"): not a new suspicion.
    comparison_before: list[str] = []
    comparison_after: list[str] = []
    # An overall response category stated in the report (iSD, iPR, iCR): the report is a response, and
    # no suspected term in the same report starts a new iUPD.
    stated_response: list[str] = []
    # Suspected terms that yield to any response statement in the same report ("consistent with
    # pseudoprogression; stable disease").
    yields_to_response: list[str] = []
    # Why a checkpoint inhibitor was stopped (MedicationRequest / MedicationStatement statusReason,
    # note): progression ends the iRECIST question; toxicity keeps it open (issue 16 section 8).
    stop_for_progression: list[str] = []
    stop_for_toxicity: list[str] = []
    # Words on a medication record naming a new line of therapy ("second-line", "next line").
    new_line_terms: list[str] = []
    # Observation.component codes naming a lesion-level assessment (target lesions, new lesions): not the
    # overall response, so their values are not read as the report's response.
    lesion_level_components: list[str] = []


class AnswerAfter(Strict):
    """A form answer right after the name: "Seizure: no", "Seizure? No", "ICANS - none"."""

    separators: str = Field(min_length=1)  # the characters between the name and its answer
    absent: list[str]
    present: list[str]


class AlternativeCauseAfter(Strict):
    """A named alternative cause after the finding: "confusion due to opioid toxicity"."""

    connectors: list[str]
    causes: list[str]
    max_chars_to_cause: int = Field(ge=0, le=200)
    # Named after the connector before any listed cause, one of these is no alternative cause: ICANS
    # follows or accompanies CRS ("confusion in the setting of CRS with hypotension" stays a finding).
    not_causes: list[str] = []


class NegatedLists(Strict):
    """A negation that runs over a comma-separated list: "no headache, confusion or seizure"."""

    list_cues: list[str]  # negations that open a list by themselves ("denies A, B, C")
    closers: list[str]  # a list closed by one of these ("A, B or C") continues a plain negation
    resets: list[str]  # words that start a new statement: the list ends ("no fever, new seizure")
    max_words: int = Field(ge=1, le=20)  # a list item has at most this many words
    # The name itself must end its item or be followed by one of these ("confusion or seizure"):
    # "seizure at 3 am" is a statement, not a list item.
    joiners: list[str] = []


class ReportedByOthers(Strict):
    """A relative or witness reporting the patient's event is not family history: a history cue that
    names another person ("mother has", "daughter with") is that person's own condition only when no
    reporting word stands in the phrase before the name ("mother has noticed he is confused")."""

    persons: list[str]  # the first word of a history cue that names another person ("mother")
    reporting: list[str]  # between the person and the finding: a reporter ("mother has noticed ...")
    # right before the person: a reporter ("brought in by daughter with confusion", "per mother")
    reporter_prepositions: list[str] = []
    source: str


class FlareOfKnownDisease(Strict):
    """An exacerbation, flare or worsening of a pre-existing disease is a new event: a flare word in
    the phrase cancels a chronicity cue anywhere in it ("pre-existing myasthenia with acute
    exacerbation") and any history cue it precedes ("exacerbation of previously stable myasthenia")."""

    words: list[str]
    chronicity_cues: list[str]  # history cues that say "known / long-standing", not "in the past"
    source: str


class ExclusionBefore(Strict):
    """A noun of exclusion before the name ("Ausschluss einer Enzephalitis mittels LP erfolgt"): the
    finding was excluded, unless the phrase says the exclusion is still to come ("...
    geplant", "... ausstehend"): then it is suspected. "zum Ausschluss" (the reason for a test) is an
    uncertainty cue and, being longer, wins over the bare noun."""

    cues: list[str]
    pending: list[str]
    source: str


class TextMatchingFile(Strict):
    max_text_chars: int = Field(ge=1000, le=1_000_000)
    phrase_breaks: list[str]
    negation_before: list[str]
    uncertainty_before: list[str]
    history_before: list[str]
    history_scope_ends: list[str] = []
    alternative_cause_before: list[str] = []
    qualifier_after: list[str]
    qualifier_after_max_chars: int = Field(ge=0, le=200)
    # Between the name and a qualifier, one of these keeps the finding: "seizure despite prophylaxis".
    qualifier_after_blockers: list[str] = []
    # Phrases that begin with a negation word but do not negate ("no improvement in confusion").
    pseudo_negations: list[str] = []
    qualifier_adjacent_after: list[str] = []
    uncertainty_after: list[str]
    answer_after: AnswerAfter | None = None
    alternative_cause_after: AlternativeCauseAfter | None = None
    negated_lists: NegatedLists | None = None
    reported_by_others: ReportedByOthers | None = None
    flare_of_known_disease: FlareOfKnownDisease | None = None
    exclusion_before: ExclusionBefore | None = None
    absent_values: list[str]
    progression: ProgressionTerms
    # Issue 19: abbreviations written with full stops ("V.a.", "Z.n.", "St.p."): their stops end no
    # phrase, so "V.a. ICANS" keeps its cue in the phrase of the name.
    abbreviations: list[str] = []


# --- timing.yaml ---------------------------------------------------------------------------------------


class PerClass(Strict):
    car_t: int
    t_cell_engager: int
    ici: int

    def of(self, therapy_class: TherapyClass) -> int:
        value: int = getattr(self, therapy_class)
        return value


class BaselineTiming(Strict):
    baseline_mri_window_days: int = Field(ge=0)
    plan_expiry_days: int = Field(ge=1)
    car_t_retreatment_days: int = Field(ge=0)
    indicator: dict[TherapyClass, Indicator]
    # A T-cell engager restarted after a pause longer than this is a new course: baseline and day 0 again.
    t_cell_engager_new_course_gap_days: int = Field(default=90, ge=1)
    evidence: list[str]
    # Cited only when CAR-T or a T-cell engager is planned (CAR-T sources on a checkpoint-inhibitor-only
    # card would be content from another exposure class).
    immune_effector_evidence: list[str] = []


class Window(Strict):
    id: str
    therapy_class: TherapyClass
    from_day: int
    to_day: int
    target_day: int | None = None
    indicator: Indicator
    # Only for CAR-T products whose response is assessed by imaging (therapies.yaml).
    requires_imaging_response: bool = False
    evidence: list[str]
    # A risk window (low threshold for brain MRI with new neurological signs): when a neurotoxicity card
    # shows, the window folds into it instead of showing as an interval card beside it (issue 16, 7).
    folds_into_neurotoxicity: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.from_day > self.to_day:
            raise ValueError(f"window {self.id}: from_day {self.from_day} is after to_day {self.to_day}")
        return self


class IrecistTiming(Strict):
    from_days: int
    to_days: int
    overdue_stop_days: int
    indicator_planned: Indicator
    indicator_due: Indicator
    indicator_overdue: Indicator
    evidence: list[str]


class IntervalTiming(Strict):
    windows: list[Window]
    irecist_confirmation: IrecistTiming


class NeurotoxicityTiming(Strict):
    new_finding_days: int = Field(ge=1)
    horizon_after_last_exposure_days: PerClass
    # A finding later than this day after the CAR-T infusion is named delayed neurotoxicity, not ICANS.
    car_t_delayed_after_day: int = Field(ge=0)
    critical_from_icans_grade: int = Field(ge=1, le=5)
    # Findings after which an EEG is advised (seizures, depressed consciousness).
    eeg_finding_ids: list[str]
    eeg_from_score_grade: int = Field(ge=1, le=5)
    evidence: list[str]
    # Cited only when the card rests on CAR-T or a T-cell engager (recorded or implied): ASTCT grading
    # and CAR-T neuroimaging are not the sources of a checkpoint-inhibitor-only card.
    immune_effector_evidence: list[str] = []
    # The card is critical only while its latest evidence is at most this old (and unresolved); after
    # that it is a warning that names the last documented finding (issue 16, section 7).
    critical_while_recent_hours: int = Field(default=72, ge=24)
    # Findings after which a lumbar puncture (CSF analysis) is advised: encephalitis, meningitis.
    lumbar_puncture_finding_ids: list[str] = []


class AcknowledgementTiming(Strict):
    # An overridden card (same topic and evidence key) stays quiet this many days.
    quiet_days: int = Field(default=7, ge=0)
    # A critical card, once overridden, returns only on new evidence (a new key), not when quiet_days end.
    critical_returns_on_new_evidence_only: bool = True


class TimingFile(Strict):
    baseline_brain_mri: BaselineTiming
    interval_imaging: IntervalTiming
    possible_neurotoxicity: NeurotoxicityTiming
    acknowledgements: AcknowledgementTiming = Field(default_factory=AcknowledgementTiming)


# --- cards/ --------------------------------------------------------------------------------------------


class Topic(Strict):
    code: str
    display: str


class SourceLabel(Strict):
    label: str
    topic_system: str


class OverrideReason(Strict):
    code: str
    display: str


class OverrideReasons(Strict):
    system: str
    reasons: list[OverrideReason]


class EvidenceLink(Strict):
    label: str
    url: str


class SuggestedMri(Strict):
    text: str
    category: dict[str, str]


class MriCautionTexts(Strict):
    """What a card says instead of an MRI order when MRI is contraindicated (issue 16 section 4)."""

    implant: str
    contrast: str
    reason_line: str
    egfr: str
    conditional: str
    # German review (class W): what the record's contraindication is called in this language, by the
    # English wording the timeline gives it ("cardiac pacemaker (MR unsafe)"); English repeats it.
    names: dict[str, str] = Field(default_factory=dict)


class CardWords(Strict):
    """The words and formats the card code builds sentences from (issue 19 section 3): each language's
    own, so that the code holds no English and no `if language` branches."""

    date_format: str  # strftime: "%Y-%m-%d" in English, "%d.%m.%Y" in German
    date_not_readable: str
    list_and: str  # the last separator of a list: " and ", " und "
    record: str  # a record whose resource type has no label
    car_t_day: str  # fills {day}
    sites_imaged: str  # fills {sites}
    score_named: str  # fills {kind}, {score}, {maximum}
    work_up_kinds: dict[str, str]  # central, spinal, neuromuscular, pituitary, as said in a sentence
    study_states: dict[str, str]  # a brain MRI on record: done, ordered


class CommonCardsFile(Strict):
    source: SourceLabel
    override_reasons: OverrideReasons
    evidence: dict[str, EvidenceLink]
    therapy_class_labels: dict[TherapyClass, str]
    # German clinician review (W4): the class said for several agents ("Checkpoint-Inhibitoren").
    therapy_class_labels_plural: dict[TherapyClass, str] = Field(default_factory=dict)
    event_labels: dict[str, str]
    record_labels: dict[str, str]
    suggested_mri: SuggestedMri
    mri_caution: MriCautionTexts
    words: CardWords


class Suggestion(Strict):
    label: str
    priority: Literal["routine", "urgent", "asap", "stat"]
    reason: str


class BaselinePhrases(Strict):
    headline_advised: str
    headline_consider: str
    therapies_sentence: str
    planned_start: str
    last_brain_mri: str
    no_brain_mri: str


class BaselineCaution(Strict):
    """German review (class E): what the baseline card says when the MRI order is left out for a
    contraindication, so that summary, headline and detail agree. Fills: {therapies}."""

    summary_mri_contraindicated: str
    summary_contrast_contraindicated: str
    headline_mri_contraindicated: str
    implant: str  # replaces common.yaml mri_caution.implant on this card; fills {reasons}


class BaselineCardsFile(Strict):
    topic: Topic
    summary: str
    summary_consider: str
    detail: str
    class_notes: dict[TherapyClass, str]
    suggestion: Suggestion
    phrases: BaselinePhrases
    mri_caution: BaselineCaution | None = None


class WindowTexts(Strict):
    summary: str
    detail: str
    # The sentence the neurotoxicity card says for a window folded into it (risk windows only).
    folded: str = ""


class IrecistTexts(Strict):
    planned: WindowTexts
    due: WindowTexts
    overdue: WindowTexts
    # v3 (issue 16 section 8): appended to the detail when the ICI had stopped for toxicity before the
    # iUPD and no other therapy followed.
    stopped_for_toxicity: str = ""
    # v3 (review): {stop_when} in stopped_for_toxicity: the stop's own date, else that it is not
    # recorded with the last dose given ({date}), else only that it is not recorded.
    stop_on: str = "on {date}"
    stop_date_not_recorded_last_dose: str = "(date not recorded, last dose on {date})"
    stop_date_not_recorded: str = "(date not recorded)"


class IntervalCardsFile(Strict):
    topic: Topic
    windows: dict[str, WindowTexts]
    irecist: IrecistTexts


class WorkUp(Strict):
    summary_action: str
    # The action when the card is a warning (ICANS grade 1, a suspected finding): not "urgent". v3 (review):
    # for a central lead, when the brain MRI is not urgent (a suspicion only, evidence older than 72 h).
    summary_action_warning: str
    detail: str
    lead_note: str = ""
    # v3 (review): the work-up when the MRI is not urgent (a suspicion only, evidence gone stale), when an
    # implant rules MRI out, and when only contrast is ruled out (no "urgent MRI" the card does not order).
    detail_routine: str = ""
    detail_mri_contraindicated: str = ""
    detail_contrast_contraindicated: str = ""
    # German clinician review (C3): the same alternatives when the card's priority is routine (a suspicion,
    # evidence gone stale): no "urgent", no "today".
    detail_mri_contraindicated_routine: str = ""
    detail_contrast_contraindicated_routine: str = ""
    # German review (class E): a brain MRI done since the latest finding: the summary's action and the
    # work-up say so (no "urgent MRI" the card does not order). Fills: {date}.
    summary_action_mri_on_record: str = ""
    detail_mri_on_record: str = ""
    # Contrast ruled out only (no order offered): the summary says the non-contrast study.
    summary_action_contrast_contraindicated: str = ""
    # German review (class E'): the spinal work-up leads (myelitis with paraparesis) and the card's order
    # is the brain MRI: the summary names the brain MRI first, the whole-spine MRI with it.
    summary_action_with_brain_mri: str = ""
    summary_action_warning_with_brain_mri: str = ""


class NeurotoxicityPhrases(Strict):
    icans_possible: str
    icans_possible_grade: str
    icans_possible_grade_1_or_2: str
    icans_documented: str
    icans_documented_grade: str
    icans_documented_higher_grade: str
    delayed_car_t: str
    irae: str
    neuro_ae: str
    # Hypophysitis / hypopituitarism under a checkpoint inhibitor: an endocrine irAE, not a neurological one.
    endocrine_irae: str
    after_therapies: str
    after_therapies_endocrine: str
    icans_not_recorded: str
    ice_not_recorded: str
    # v3: a diagnosis implies the therapy (T80.82-, D89.83-): "{implied}" names it.
    exposure_implied_not_recorded: str = (
        "{implied} is documented, so immune effector cell therapy (CAR-T or T-cell engager) was given, "
        "but it is not recorded here: it was perhaps given at another hospital."
    )
    finding_line: str
    suspected_finding_line: str
    # v3 (facts): the date of a finding from an undated active diagnosis, in the finding line.
    undated_finding_date: str = "undated"
    ice_score_line: str
    capd_score_line: str
    domains: str
    domain_finding: str
    domain_ice: str
    domain_capd: str
    domain_code: str
    also_work_up: str
    brain_mri_since: str
    no_brain_mri_since: str
    therapy_heading: str
    # A brain MRI ordered (not done) since the latest finding; one being ordered in this request.
    brain_mri_ordered_since: str
    brain_mri_being_ordered: str
    # The card is no longer critical: its latest evidence is older than critical_while_recent_hours.
    stale_evidence: str
    # The same for a checkpoint-inhibitor-only card: reassess without the ICE score (an ICANS tool).
    stale_evidence_irae: str
    # A grade stated only with a suspicion ("V.a. ICANS Grad 2"): the written grade, said as suspected.
    icans_suspected_grade: str
    # Heading of the folded risk window(s) and of the decision the grade usually drives.
    risk_window_heading: str
    decision_heading: str
    # v3 (review): a long summary shortens its agents ("pembrolizumab and 2 more"), never its action.
    agents_and_more: str = "{first} and {count} more"
    # v3 (review): a score the grade rests on that is older than critical_while_recent_hours is said
    # with its date, and the card asks to reassess.
    domain_score_dated: str = "{kind} score {score} on {date} grade {grade}"
    grade_rests_on_old_score: str = (
        "The grade rests on the {kind} score of {date}, more than {hours} hours old: reassess today."
    )
    # German review (class M): a brain MRI done before the latest finding: the detail names it and says
    # why a new one is advised; the summary's action names its date ({action}, {date}).
    brain_mri_before: str = ""
    summary_action_mri_before: str = "{action}"
    # German review (probe p): the brain MRI listed after a leading spine MRI (myelitis with paraparesis).
    also_brain_mri_after_spine: str = ""


class DecisionGuidance(Strict):
    """What guidelines usually do at this grade: guidance for the treating team, never an order."""

    text: str
    evidence: list[str]


class CompanionWorkUp(Strict):
    """German review (F3): the work-up a companion finding adds (myocarditis with a myositis)."""

    summary_action: str
    detail: str


class FindingSummaryAction(Strict):
    """German review (class E'): the summary's action when a finding's own lead tests differ from its
    class's (Guillain-Barre syndrome: lumbar puncture, nerve conduction, vital capacity)."""

    summary_action: str
    summary_action_warning: str


class NeurotoxicityCardsFile(Strict):
    topic: Topic
    summary: str
    # The summary once the card is no longer critical because its evidence is old (issue 16, 7).
    summary_stale: str
    detail: str
    grading_note: dict[str, str]
    work_up: dict[Syndrome, WorkUp]
    eeg_note: str
    # The EEG line of a checkpoint-inhibitor-only card: no ICANS grade in it.
    eeg_note_irae: str
    unattributed_therapy: str
    suggestion: Suggestion
    suggestion_warning: Suggestion
    phrases: NeurotoxicityPhrases
    # Keys: icans_grade_1, icans_grade_2, icans_grade_3_or_more, icans_ungraded, irae, endocrine-irae.
    decision_guidance: dict[str, DecisionGuidance] = Field(default_factory=dict)
    # Issue 16 section 4: the LP line (encephalitis, meningitis) and the pituitary-protocol MRI.
    lumbar_puncture_note: str
    # German clinician review (C6): what a finding's own work-up adds (Guillain-Barre: LP and nerve
    # conduction; myasthenia: AChR / titin / MuSK antibodies, CK, troponin), by finding id.
    finding_notes: dict[str, str] = Field(default_factory=dict)
    suggestion_pituitary: Suggestion
    suggestion_pituitary_order_text: str
    summary_action_mri_contraindicated: str
    # German clinician review (C3): the same action on a routine card (a suspicion, stale evidence).
    summary_action_mri_contraindicated_routine: str = ""
    # v3 (review): the summary when even the therapy class does not fit: the agents are in the detail.
    summary_without_agents: str = "{headline}: {action}"
    # German review (F3): by finding id (knowledge/neurological-findings.yaml, counts_only_with).
    companion_work_up: dict[str, CompanionWorkUp] = Field(default_factory=dict)
    # German review (F1): what an agent's label says to do with the infusion on neurotoxicity, by agent
    # id (knowledge/therapies.yaml): blinatumomab, a continuous infusion, is interrupted or stopped.
    label_guidance: dict[str, DecisionGuidance] = Field(default_factory=dict)
    # German review (class E'): by finding id, the summary's action when the neuromuscular work-up leads.
    finding_summary_action: dict[str, FindingSummaryAction] = Field(default_factory=dict)
    # German review (class S): a new encephalopathy under a checkpoint inhibitor alone: the encephalitis
    # question (lumbar puncture, EEG).
    encephalitis_question_note: str = ""


# --- patient-context.yaml (issue 16 section 4) -----------------------------------------------------------


class ContextCode(Strict):
    system: str
    code: Code
    verification: Verification
    source: str
    match: CodeMatch = "exact"


class ImplantKind(Strict):
    """An implanted device that rules out an MRI unless documented as MR-conditional or MR-safe."""

    id: str
    display: str
    names: list[str] = []
    codes: list[ContextCode] = []


class GadoliniumAllergy(Strict):
    names: list[str]
    source: str


class EgfrThreshold(Strict):
    below: float = Field(gt=0)
    recent_days: int = Field(ge=1)
    codes: list[ContextCode]
    names: list[str] = []


class MriSafety(Strict):
    devices: list[ImplantKind]
    # Words near a device name that say it is not in the patient (explanted) or not yet (evaluation).
    not_present_words: list[str] = []
    conditional_codes: list[ContextCode] = []
    conditional_names: list[str] = []
    unsafe_codes: list[ContextCode] = []
    unsafe_names: list[str] = []
    gadolinium: GadoliniumAllergy
    egfr: EgfrThreshold


class ResponseDiagnosis(Strict):
    id: str
    display: str
    # True: the day +28 response after CAR-T is assessed by imaging (PET-CT in lymphoma).
    response_by_imaging: bool
    names: list[str] = []
    codes: list[ContextCode] = []


class PatientContextFile(Strict):
    sources: dict[str, Source]
    mri_safety: MriSafety
    diagnoses: list[ResponseDiagnosis]

    @model_validator(mode="after")
    def _sources_known(self) -> PatientContextFile:
        safety = self.mri_safety
        codes = [
            *(code for device in safety.devices for code in device.codes),
            *safety.conditional_codes,
            *safety.unsafe_codes,
            *safety.egfr.codes,
            *(code for diagnosis in self.diagnoses for code in diagnosis.codes),
        ]
        named = [code.source for code in codes] + [safety.gadolinium.source]
        unknown = sorted({source for source in named if source not in self.sources})
        if unknown:
            raise ValueError(f"patient-context.yaml names unknown sources {unknown}")
        return self
