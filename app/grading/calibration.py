"""The labelled calibration answers of tests/data/explain_calibration.yaml, as pydantic models."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

CALIBRATION = Path(__file__).resolve().parents[2] / "tests" / "data" / "explain_calibration.yaml"
LABELS = ("good", "partial", "salad", "wrong")


class CalibrationAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Literal["good", "partial", "salad", "wrong"]
    text: str = Field(min_length=1)


class CalibrationQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str
    split: Literal["tune", "heldout"]
    answers: list[CalibrationAnswer] = Field(min_length=4)


def load(path: Path = CALIBRATION) -> list[CalibrationQuestion]:
    return TypeAdapter(list[CalibrationQuestion]).validate_python(yaml.safe_load(path.read_text(encoding="utf-8")))
