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


class NotExposureContext(Strict):
    """Words in the phrase of a therapy name that make the record not an exposure to it ("CAR-T
    evaluation", "referral for CAR-T cell therapy", "ipilimumab-naive", "pembrolizumab declined")."""

    before: list[str]
    after: list[str]
    after_max_chars: int = Field(ge=0, le=200)
    source: str


class TherapiesFile(Strict):
    sources: dict[str, Source]
    classes: dict[TherapyClass, TherapyClassInfo]
    agents: list[AgentEntry]
    excluded: list[ExcludedAgent] = []
    look_alikes: list[str] = []
    not_exposure_context: NotExposureContext | None = None

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


class FindingEntry(Strict):
    id: str
    display: str
    severity: Severity
    syndrome: Syndrome
    # Further work-up classes the finding needs beside its own (encephalomyelitis: the spine as well).
    also_work_up: list[Syndrome] = []
    # The ASTCT ICANS grade this finding implies by itself (Lee 2019); null when it does not grade.
    icans_grade: int | None = Field(default=None, ge=1, le=5)
    names: list[str] = []
    codes: list[FindingCode] = []


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


class ProlongedSeizure(Strict):
    """A seizure whose stated duration reaches `minutes` is read as the `finding` (status epilepticus)."""

    minutes: int = Field(ge=1)
    applies_to: list[str]  # the finding ids a duration upgrades ("seizure")
    finding: str
    source: str


class FindingsFile(Strict):
    sources: dict[str, Source]
    findings: list[FindingEntry]
    ice_score: IceScore
    capd_score: CapdScore
    not_findings: list[NotFinding] = []
    # Coded observation values that mean "absent" (SNOMED CT "No", "Absent").
    absent_value_codes: list[NotFindingCode] = []
    prolonged_seizure: ProlongedSeizure | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FindingsFile:
        ids = [finding.id for finding in self.findings]
        if "icans" not in ids:
            raise ValueError("the finding 'icans' is required (coded ICANS grades and the ICE score use it)")
        prolonged = self.prolonged_seizure
        if prolonged is not None:
            for finding_id in (prolonged.finding, *prolonged.applies_to):
                if finding_id not in ids:
                    raise ValueError(f"prolonged_seizure names unknown finding {finding_id!r}")
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


class SuggestedCode(Strict):
    code: Code
    display: str


class BrainImagingFile(Strict):
    sources: dict[str, Source]
    brain_mri_codes: list[ImagingCode]
    not_brain_mri_codes: list[ImagingCode]
    mri_modality_codes: list[ImagingCode]
    restaging_modality_codes: list[ImagingCode]
    brain_body_site_codes: list[ImagingCode]
    text: ImagingText
    suggested_order: dict[str, SuggestedCode]


# --- text-matching.yaml --------------------------------------------------------------------------------


class ProgressionTerms(Strict):
    suspected: list[str]
    confirmed: list[str]
    # Right after a suspected/confirmed term, same phrase: the statement is denied ("iUPD criteria not
    # met"), on top of the shared negation cues.
    negated_after: list[str] = []
    # A restaging that found no progression (iSD, iPR, iCR): it closes an open iUPD confirmation.
    not_progression: list[str] = []


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


class NegatedLists(Strict):
    """A negation that runs over a comma-separated list: "no headache, confusion or seizure"."""

    list_cues: list[str]  # negations that open a list by themselves ("denies A, B, C")
    closers: list[str]  # a list closed by one of these ("A, B or C") continues a plain negation
    resets: list[str]  # words that start a new statement: the list ends ("no fever, new seizure")
    max_words: int = Field(ge=1, le=20)  # a list item has at most this many words
    # The name itself must end its item or be followed by one of these ("confusion or seizure"):
    # "seizure at 3 am" is a statement, not a list item.
    joiners: list[str] = []


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
    absent_values: list[str]
    progression: ProgressionTerms


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
    # Findings after which a lumbar puncture (CSF analysis) is advised: encephalitis, meningitis.
    lumbar_puncture_finding_ids: list[str] = []


class TimingFile(Strict):
    baseline_brain_mri: BaselineTiming
    interval_imaging: IntervalTiming
    possible_neurotoxicity: NeurotoxicityTiming


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


class CommonCardsFile(Strict):
    source: SourceLabel
    override_reasons: OverrideReasons
    evidence: dict[str, EvidenceLink]
    therapy_class_labels: dict[TherapyClass, str]
    event_labels: dict[str, str]
    record_labels: dict[str, str]
    suggested_mri: SuggestedMri
    mri_caution: MriCautionTexts


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


class BaselineCardsFile(Strict):
    topic: Topic
    summary: str
    summary_consider: str
    detail: str
    class_notes: dict[TherapyClass, str]
    suggestion: Suggestion
    phrases: BaselinePhrases


class WindowTexts(Strict):
    summary: str
    detail: str


class IrecistTexts(Strict):
    planned: WindowTexts
    due: WindowTexts
    overdue: WindowTexts


class IntervalCardsFile(Strict):
    topic: Topic
    windows: dict[str, WindowTexts]
    irecist: IrecistTexts


class WorkUp(Strict):
    summary_action: str
    # The action when the card is a warning (ICANS grade 1, a suspected finding): not "urgent".
    summary_action_warning: str
    detail: str
    lead_note: str = ""


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
    after_therapies: str
    icans_not_recorded: str
    ice_not_recorded: str
    finding_line: str
    suspected_finding_line: str
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


class NeurotoxicityCardsFile(Strict):
    topic: Topic
    summary: str
    detail: str
    grading_note: dict[str, str]
    work_up: dict[Syndrome, WorkUp]
    eeg_note: str
    unattributed_therapy: str
    suggestion: Suggestion
    suggestion_warning: Suggestion
    phrases: NeurotoxicityPhrases
    # Issue 16 section 4: the LP line (encephalitis, meningitis) and the pituitary-protocol MRI.
    lumbar_puncture_note: str
    suggestion_pituitary: Suggestion
    suggestion_pituitary_order_text: str
    summary_action_mri_contraindicated: str


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
