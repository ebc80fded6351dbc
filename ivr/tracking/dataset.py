"""A reproducible, realistic set of files for the tracking stub.

Most simple files are done within days; a minority are complex (with an
expertise centre, about three weeks); some wait for documents, some are
refused, some are dispatched with a date.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from ..ants3400.file_numbers import make_file_number
from ..ants3400.statuses import STATUS_LABELS, STATUSES
from ..ants3400.titles import TITLE_TYPES

__all__ = ["FileStatus", "generate", "STATUS_WEIGHTS", "FAULT_NUMBERS"]

#: status code → its weight in the mix (in percent of files).
STATUS_WEIGHTS = {
    "en_instruction": 46,
    "expertise": 10,
    "attente_pieces": 9,
    "refuse": 5,
    "produit": 12,
    "expedie": 11,
    "disponible": 7,
}
#: File numbers the stub answers with a fault, for scenarios and tests (documented in the README).
FAULT_NUMBERS = {
    make_file_number(99000001): "unavailable",  # 503
    make_file_number(99000002): "slow",  # answers after 10 s
}

_NEXT_STEPS = {
    "attente_pieces": "Pour continuer, envoyez les pièces demandées depuis votre espace en ligne.",
    "refuse": "Le courrier de refus vous indique les motifs et les voies de recours.",
    "disponible": "Présentez-vous en mairie avec votre récépissé pour le retirer.",
    "expedie": "Vous le recevrez par courrier recommandé.",
}


@dataclass(frozen=True)
class FileStatus:
    """One file's status in the tracking data set."""

    title_type: str
    file_number: str
    status: str
    label: str
    submitted_at: str
    updated_at: str
    expected_at: str | None
    expertise: bool
    complex: bool
    next_step: str | None

    def to_json(self) -> dict[str, Any]:
        """The status as JSON (the stub's answer)."""
        return asdict(self)


def generate(seed: int = 3400, per_title: int = 1500, today: date | None = None) -> list[FileStatus]:
    """``per_title`` files for each title type; same seed and day → same files."""
    today = today or date.today()
    rng = random.Random(seed)
    codes = list(STATUSES)
    weights = [STATUS_WEIGHTS[c] for c in codes]
    used: set[str] = set(FAULT_NUMBERS)
    out: list[FileStatus] = []
    for title in TITLE_TYPES:
        for _ in range(per_title):
            while True:
                number = make_file_number(rng.randrange(10_000_000, 98_999_999))
                if number not in used:
                    used.add(number)
                    break
            status = rng.choices(codes, weights)[0]
            if status == "disponible" and title not in ("cni", "passeport"):
                status = "expedie"  # vehicle papers and licences are mailed, not collected
            complex_ = status == "expertise" or rng.random() < 0.03
            age = rng.randint(1, 6) if status == "en_instruction" else rng.randint(3, 30)
            submitted = today - timedelta(days=age + rng.randint(0, 3))
            updated = today - timedelta(days=rng.randint(0, max(0, age - 1)))
            expected: date | None
            if status == "en_instruction":
                expected = today + timedelta(days=rng.randint(1, 7))
            elif status == "expertise":
                expected = submitted + timedelta(days=rng.randint(18, 26))
                expected = max(expected, today + timedelta(days=2))
            elif status == "produit":
                expected = today + timedelta(days=rng.randint(2, 8))
            elif status == "expedie":
                expected = updated + timedelta(days=rng.randint(1, 3))
            else:
                expected = None
            out.append(FileStatus(
                title_type=title,
                file_number=number,
                status=status,
                label=STATUS_LABELS[status],
                submitted_at=submitted.isoformat(),
                updated_at=updated.isoformat(),
                expected_at=expected.isoformat() if expected else None,
                expertise=status == "expertise",
                complex=complex_,
                next_step=_NEXT_STEPS.get(status),
            ))
    return out
