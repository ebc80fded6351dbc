"""The statuses a 34 00 file can have, and the sentence the IVR speaks for each, in natural French."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ..tts.sentences import say_date_text, say_days_text
from .titles import TITLE_LABELS, TITLE_REQUESTS

__all__ = ["STATUSES", "STATUS_LABELS", "status_sentence"]

#: status code → how the tracking service words it (« Votre demande … est <label>. »).
STATUS_LABELS = {
    "en_instruction": "en cours d'instruction",
    "expertise": "en cours d'examen par un centre d'expertise",
    "attente_pieces": "en attente de pièces justificatives",
    "refuse": "refusée",
    "produit": "validée, votre titre est en production",
    "expedie": "terminée, votre titre a été expédié",
    "disponible": "terminée, votre titre est disponible en mairie",
}
#: Every status the agency's tracking service returns for a file.
STATUSES = tuple(STATUS_LABELS)


def status_sentence(file: Mapping[str, Any], today: date) -> str:
    """E.g. « Votre demande de carte grise est en cours d'instruction. Elle devrait être terminée
    dans 5 jours, le 3 décembre. »"""
    title = TITLE_REQUESTS.get(file.get("title_type", ""), TITLE_LABELS.get(file.get("title_type", ""), ""))
    status = file.get("status", "")
    label = file.get("label") or ""
    parts = [f"Votre demande {title} est {label}."]
    expected = file.get("expected_at")
    days = (date.fromisoformat(expected) - today).days if expected else None
    if status == "expedie":
        shipped = file.get("updated_at") or expected
        sent = "Il a été expédié" + (f" {say_date_text(shipped, today)}" if shipped else "")
        if expected and days is not None and days >= 0:
            sent += f" et devrait vous parvenir {say_days_text(days)}, {say_date_text(expected, today)}"
        parts.append(sent + ".")
    elif expected and days is not None:
        subject = "Il devrait être prêt" if status == "produit" else "Elle devrait être terminée"
        if days > 0:
            parts.append(f"{subject} {say_days_text(days)}, {say_date_text(expected, today)}.")
        else:
            parts.append(f"{subject} très prochainement.")
    elif file.get("updated_at") and status in ("attente_pieces", "refuse", "disponible"):
        parts.append(f"Dernière mise à jour : {say_date_text(file['updated_at'], today)}.")
    return " ".join(parts)
