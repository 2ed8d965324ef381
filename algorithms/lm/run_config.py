"""The settings every live run of the language-model track shares (an RLHF stage, GRPO)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal


@dataclass(frozen=True)
class LMRunConfig:
    """A config of the LM track inherits these; on the form, the CLI and config.json they come after the
    run's own settings (LAST_FIELDS, as for contract.RunConfig). A config redeclares one only to change
    its default or say something its own (a field keeps its docstring from the class that declares it last)."""

    LAST_FIELDS: ClassVar[tuple[str, ...]] = ("preset", "seed", "device", "threads", "cache_dir", "output_dir")

    preset: Literal["auto", "smoke", "tiny", "gpu"] = "auto"
    """Model and data sizes: 'auto' picks 'gpu' with CUDA, else 'tiny' (about 0.8 M parameters)."""
    seed: int = 0
    """Seed of the SFT model and data (runs with the same preset and seed share them) and of the training."""
    device: str = "auto"
    """'auto' (CUDA when present), 'cuda' or 'cpu'."""
    threads: int = 0
    """CPU threads for torch (0: every core if the machine is idle when the run starts, else 1)."""
    cache_dir: str = ""
    """Where the SFT model (and the RLHF chain's preference data and reward model) are kept between runs (empty:
    the data directory's lm/)."""
    output_dir: str = ""
    """Where this run writes its report, samples and final policy (set by the run manager)."""
