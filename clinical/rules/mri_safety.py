"""MRI safety on the day: the contraindications known by then (an implant not documented MR-conditional,
an MR-unsafe flag, a gadolinium allergy, a recent eGFR below the contrast threshold). Any of them takes
the MRI order suggestion off every card; the card says why and what to do instead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from clinical.timeline import EgfrReading, MriContraindication, PatientTimeline


@dataclass(frozen=True)
class MriCaution:
    implants: tuple[MriContraindication, ...]  # no MRI without a radiology decision
    contrast: tuple[MriContraindication, ...]  # gadolinium contrast only
    low_egfr: EgfrReading | None  # the latest recent eGFR, when below the threshold
    egfr_below: float
    conditional_devices: tuple[str, ...]  # MR-conditional devices: the MRI follows their conditions

    @property
    def blocks_order(self) -> bool:
        return bool(self.implants or self.contrast or self.low_egfr)

    @property
    def contrast_only(self) -> bool:
        return not self.implants and self.blocks_order


def _low_egfr(timeline: PatientTimeline, today: date) -> EgfrReading | None:
    safety = timeline.mri_safety
    readings = [
        reading
        for reading in safety.egfr
        if reading.on <= today and (today - reading.on).days <= safety.egfr_recent_days
    ]
    if not readings:
        return None
    # The latest day's reading decides; two on that day: the lower (the safer answer).
    latest_day = max(reading.on for reading in readings)
    latest = min((r for r in readings if r.on == latest_day), key=lambda reading: reading.value)
    return latest if latest.value < safety.egfr_below else None


def mri_caution(timeline: PatientTimeline, today: date) -> MriCaution | None:
    safety = timeline.mri_safety
    known = [item for item in safety.contraindications if item.known_on(today)]
    caution = MriCaution(
        implants=tuple(item for item in known if item.concern == "implant"),
        contrast=tuple(item for item in known if item.concern == "contrast"),
        low_egfr=_low_egfr(timeline, today),
        egfr_below=safety.egfr_below,
        conditional_devices=safety.conditional_devices,
    )
    if not caution.blocks_order and not caution.conditional_devices:
        return None
    return caution
