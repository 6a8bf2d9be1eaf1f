"""Placeholder: replaced by the facts -> rules -> cards pipeline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from service.patient_record import PatientRecord


class Evaluator:
    @classmethod
    def load(cls, knowledge_dir: Path, cards_dir: Path) -> Evaluator:
        return cls()

    def cards_for(
        self,
        record: PatientRecord,
        draft_orders: list[dict[str, Any]],
        *,
        now: datetime,
        patient_id: str,
        user_id: str,
        encounter_id: str | None,
    ) -> list[dict[str, Any]]:
        return []
