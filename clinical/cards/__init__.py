"""Rendering advice as CDS Hooks cards, with every word taken from the reviewed texts in `cards/`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clinical.cards.baseline import DETAIL_FIELDS as BASELINE_DETAIL
from clinical.cards.baseline import SUMMARY_FIELDS as BASELINE_SUMMARY
from clinical.cards.baseline import baseline_card
from clinical.cards.common import SUMMARY_LIMIT, CardContext, CommonParts, placeholders
from clinical.cards.interval import IRECIST_FIELDS, WINDOW_FIELDS, folded_window_sentence, interval_card
from clinical.cards.neurotoxicity import DECISION_GUIDANCE_KEYS, neurotoxicity_card
from clinical.cards.neurotoxicity import DETAIL_FIELDS as NEUROTOXICITY_DETAIL
from clinical.cards.neurotoxicity import REASON_FIELDS as NEUROTOXICITY_REASON
from clinical.cards.neurotoxicity import STALE_SUMMARY_FIELDS as NEUROTOXICITY_STALE_SUMMARY
from clinical.cards.neurotoxicity import SUMMARY_FIELDS as NEUROTOXICITY_SUMMARY
from clinical.knowledge import CardTexts, KnowledgeError
from clinical.knowledge.schema import TimingFile
from clinical.rules import Advice, BaselineAdvice, NeurotoxicityAdvice

__all__ = ["SUMMARY_LIMIT", "CardContext", "CardRenderer"]


class CardRenderer:
    def __init__(
        self,
        texts: CardTexts,
        timing: TimingFile,
        suggested_order: dict[str, dict[str, str]],
        *,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.texts = texts
        self.timing = timing
        # names: the language's names of the catalogue's findings and agents (German review, row 104)
        self.common = CommonParts(texts.common, suggested_order, names or {})
        _check(texts, timing)

    def render(self, advice: Advice, context: CardContext) -> dict[str, Any]:
        if isinstance(advice, NeurotoxicityAdvice):
            windows = [
                folded_window_sentence(hit, self.texts.interval, self.common) for hit in advice.risk_windows
            ]
            hours = self.timing.possible_neurotoxicity.critical_while_recent_hours
            return neurotoxicity_card(
                advice,
                self.texts.neurotoxicity,
                self.common,
                context,
                risk_windows=windows,
                recent_hours=hours,
            )
        if isinstance(advice, BaselineAdvice):
            window = self.timing.baseline_brain_mri.baseline_mri_window_days
            return baseline_card(advice, self.texts.baseline, self.common, context, window)
        return interval_card(advice, self.texts.interval, self.common, context.now.date())


# The fields each phrase may use; a phrase not listed uses none.
PHRASE_FIELDS: dict[str, set[str]] = {
    "icans_possible_grade": {"grade"},
    "icans_suspected_grade": {"grade"},
    "icans_documented_grade": {"grade"},
    "icans_documented_higher_grade": {"grade"},
    "delayed_car_t": {"day"},
    "after_therapies": {"therapies"},
    "after_therapies_endocrine": {"therapies"},
    "finding_line": {"finding", "detail", "record", "date"},
    "suspected_finding_line": {"finding", "detail", "record", "date"},
    "ice_score_line": {"value", "maximum", "date"},
    "capd_score_line": {"value", "maximum", "date"},
    "domains": {"domains"},
    "domain_finding": {"finding", "grade"},
    "domain_ice": {"score", "grade"},
    "domain_capd": {"score", "grade"},
    "domain_code": {"grade"},
    "also_work_up": {"kind", "detail"},
    "brain_mri_since": {"date", "study", "state"},
    "brain_mri_ordered_since": {"date", "study"},
    "brain_mri_being_ordered": {"study"},
    "stale_evidence": {"finding", "date", "hours"},
    "stale_evidence_irae": {"finding", "date", "hours"},
    "therapies_sentence": {"therapies", "start"},
    "planned_start": {"date"},
    "last_brain_mri": {"date", "study"},
    "exposure_implied_not_recorded": {"implied"},
    "agents_and_more": {"first", "count"},
    "domain_score_dated": {"kind", "score", "date", "grade"},
    "grade_rests_on_old_score": {"kind", "date", "hours"},
    "brain_mri_before": {"date", "study", "state"},
    "summary_action_mri_before": {"action", "date"},
    "also_brain_mri_after_spine": {"kind", "detail"},
}


def _contraindication_templates(texts: CardTexts) -> dict[str, tuple[set[str], str]]:
    """German review (class E): what a card says when it proposes no MRI (one done since the finding, one
    ruled out by an implant or by contrast) and the placeholders each template may use."""
    expected: dict[str, tuple[set[str], str]] = {}
    for kind, wording in texts.neurotoxicity.work_up.items():
        for name in ("summary_action_mri_on_record", "detail_mri_on_record"):
            expected[f"possible-neurotoxicity.yaml work_up.{kind}.{name}"] = (
                {"date"},
                getattr(wording, name),
            )
        expected[f"possible-neurotoxicity.yaml work_up.{kind}.summary_action_contrast_contraindicated"] = (
            set(),
            wording.summary_action_contrast_contraindicated,
        )
    caution = texts.baseline.mri_caution
    if caution is not None:
        for name in ("summary_mri_contraindicated", "summary_contrast_contraindicated"):
            expected[f"baseline-brain-mri.yaml mri_caution.{name}"] = (
                BASELINE_SUMMARY,
                getattr(caution, name),
            )
        expected["baseline-brain-mri.yaml mri_caution.headline_mri_contraindicated"] = (
            set(),
            caution.headline_mri_contraindicated,
        )
        expected["baseline-brain-mri.yaml mri_caution.implant"] = ({"reasons"}, caution.implant)
    return expected


def _phrase_templates(texts: CardTexts) -> dict[str, tuple[set[str], str]]:
    found: dict[str, tuple[set[str], str]] = {}
    for file_name, phrases in (
        ("baseline-brain-mri.yaml", texts.baseline.phrases),
        ("possible-neurotoxicity.yaml", texts.neurotoxicity.phrases),
    ):
        for name, template in phrases.model_dump().items():
            found[f"{file_name} phrases.{name}"] = (PHRASE_FIELDS.get(name, set()), template)
    return found


def _check(texts: CardTexts, timing: TimingFile) -> None:
    """Fail at start-up, not in front of a clinician: every template names only known fields, every
    window has its wording, and every evidence id a rule cites has a link."""
    expected: dict[str, tuple[set[str], str]] = {
        "baseline-brain-mri.yaml summary": (BASELINE_SUMMARY, texts.baseline.summary),
        "baseline-brain-mri.yaml summary_consider": (BASELINE_SUMMARY, texts.baseline.summary_consider),
        "baseline-brain-mri.yaml detail": (BASELINE_DETAIL, texts.baseline.detail),
        "baseline-brain-mri.yaml suggestion.reason": (BASELINE_SUMMARY, texts.baseline.suggestion.reason),
        "possible-neurotoxicity.yaml summary": (NEUROTOXICITY_SUMMARY, texts.neurotoxicity.summary),
        "possible-neurotoxicity.yaml detail": (NEUROTOXICITY_DETAIL, texts.neurotoxicity.detail),
        "possible-neurotoxicity.yaml summary_without_agents": (
            {"headline", "action"},
            texts.neurotoxicity.summary_without_agents,
        ),
        "possible-neurotoxicity.yaml summary_stale": (
            NEUROTOXICITY_STALE_SUMMARY,
            texts.neurotoxicity.summary_stale,
        ),
        "possible-neurotoxicity.yaml suggestion_warning.reason": (
            NEUROTOXICITY_REASON,
            texts.neurotoxicity.suggestion_warning.reason,
        ),
        "possible-neurotoxicity.yaml suggestion.reason": (
            NEUROTOXICITY_REASON,
            texts.neurotoxicity.suggestion.reason,
        ),
        "possible-neurotoxicity.yaml suggestion_pituitary.reason": (
            NEUROTOXICITY_REASON,
            texts.neurotoxicity.suggestion_pituitary.reason,
        ),
        "common.yaml mri_caution.implant": ({"reasons"}, texts.common.mri_caution.implant),
        "common.yaml mri_caution.contrast": ({"reasons"}, texts.common.mri_caution.contrast),
        "common.yaml mri_caution.reason_line": ({"what", "record"}, texts.common.mri_caution.reason_line),
        "common.yaml mri_caution.egfr": ({"value", "date", "below"}, texts.common.mri_caution.egfr),
        "common.yaml mri_caution.conditional": ({"devices"}, texts.common.mri_caution.conditional),
    }
    expected.update(_phrase_templates(texts))
    expected.update(_contraindication_templates(texts))
    for phase in ("planned", "due", "overdue"):
        wording = getattr(texts.interval.irecist, phase)
        expected[f"interval-imaging.yaml irecist.{phase}.summary"] = (IRECIST_FIELDS, wording.summary)
        expected[f"interval-imaging.yaml irecist.{phase}.detail"] = (IRECIST_FIELDS, wording.detail)
    irecist = texts.interval.irecist
    expected["interval-imaging.yaml irecist.stopped_for_toxicity"] = (
        IRECIST_FIELDS,
        irecist.stopped_for_toxicity,
    )
    for name in ("stop_on", "stop_date_not_recorded_last_dose", "stop_date_not_recorded"):
        expected[f"interval-imaging.yaml irecist.{name}"] = ({"date"}, getattr(irecist, name))
    for window_id, wording in texts.interval.windows.items():
        expected[f"interval-imaging.yaml windows.{window_id}.summary"] = (WINDOW_FIELDS, wording.summary)
        expected[f"interval-imaging.yaml windows.{window_id}.detail"] = (WINDOW_FIELDS, wording.detail)
        expected[f"interval-imaging.yaml windows.{window_id}.folded"] = (WINDOW_FIELDS, wording.folded)
    for name, (fields, template) in expected.items():
        unknown = placeholders(template) - fields
        if unknown:
            raise KnowledgeError(
                f"cards/{name} uses unknown fields {sorted(unknown)} (allowed: {sorted(fields)})"
            )
    missing = [w.id for w in timing.interval_imaging.windows if w.id not in texts.interval.windows]
    if missing:
        raise KnowledgeError(
            f"knowledge/timing.yaml windows without wording in cards/interval-imaging.yaml: {missing}"
        )
    unfolded = [
        w.id
        for w in timing.interval_imaging.windows
        if w.folds_into_neurotoxicity and not texts.interval.windows[w.id].folded
    ]
    if unfolded:
        raise KnowledgeError(
            "knowledge/timing.yaml risk windows without a `folded` sentence in "
            f"cards/interval-imaging.yaml: {unfolded}"
        )
    cited = [
        *timing.baseline_brain_mri.evidence,
        *timing.baseline_brain_mri.immune_effector_evidence,
        *timing.possible_neurotoxicity.immune_effector_evidence,
        *(source for window in timing.interval_imaging.windows for source in window.evidence),
        *timing.interval_imaging.irecist_confirmation.evidence,
        *timing.possible_neurotoxicity.evidence,
        *(
            source
            for guidance in texts.neurotoxicity.decision_guidance.values()
            for source in guidance.evidence
        ),
        *(source for guidance in texts.neurotoxicity.label_guidance.values() for source in guidance.evidence),
    ]
    unknown_evidence = sorted({source for source in cited if source not in texts.common.evidence})
    if unknown_evidence:
        raise KnowledgeError(
            "knowledge/timing.yaml or cards/possible-neurotoxicity.yaml cites evidence missing from "
            f"cards/common.yaml: {unknown_evidence}"
        )
    for note in (
        "icans",
        "capd_range",
        "ice_not_valid",
        "delayed-car-t",
        "irae",
        "endocrine-irae",
        "neuro-ae",
    ):
        if note not in texts.neurotoxicity.grading_note:
            raise KnowledgeError(f"cards/possible-neurotoxicity.yaml grading_note needs {note!r}")
    unknown_guidance = sorted(set(texts.neurotoxicity.decision_guidance) - set(DECISION_GUIDANCE_KEYS))
    if unknown_guidance:
        raise KnowledgeError(
            f"cards/possible-neurotoxicity.yaml decision_guidance has unknown keys {unknown_guidance} "
            f"(allowed: {list(DECISION_GUIDANCE_KEYS)})"
        )
    missing_work_up = sorted(
        {"central", "spinal", "neuromuscular", "pituitary"} - set(texts.neurotoxicity.work_up)
    )
    if missing_work_up:
        raise KnowledgeError(f"cards/possible-neurotoxicity.yaml work_up needs {missing_work_up}")
    for label in ("car_t_given", "given", "ongoing", "stopped", "planned", "draft"):
        if label not in texts.common.event_labels:
            raise KnowledgeError(f"cards/common.yaml event_labels needs {label!r}")
