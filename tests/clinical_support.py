"""Shared loading of the reviewed clinical knowledge for the clinical unit tests."""

from __future__ import annotations

from functools import cache

from clinical.evaluation import Evaluator
from service.settings import PROJECT_ROOT

KNOWLEDGE_DIR = PROJECT_ROOT / "knowledge"
CARDS_DIR = PROJECT_ROOT / "cards"


@cache
def evaluator() -> Evaluator:
    return Evaluator.load(KNOWLEDGE_DIR, CARDS_DIR)
