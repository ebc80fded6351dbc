"""The sentence the IVR speaks for a file's status, in natural French."""

from __future__ import annotations

from datetime import date

from ..engine.readback import say_date_text, say_days_text
from ..speech.slots import TITLE_LABELS

__all__ = ["status_sentence"]

_DEMANDE = {"carte_grise": "de carte grise", "permis": "de permis de conduire",
            "cni": "de carte d'identité", "passeport": "de passeport"}


def status_sentence(file: dict, today: date) -> str:
    """E.g. « Votre demande de carte grise est en cours d'instruction. Elle devrait être terminée
    dans 5 jours, le 3 décembre. »"""
    title = _DEMANDE.get(file.get("title_type", ""), TITLE_LABELS.get(file.get("title_type", ""), ""))
    status = file.get("status", "")
    label = file.get("label") or ""
    parts = [f"Votre demande {title} est {label}."]
    expected = file.get("expected_at")
    days = (date.fromisoformat(expected) - today).days if expected else None
    if status == "expedie":
        sent = f"Il a été expédié {say_date_text(file.get('updated_at') or expected, today)}"
        if days is not None and days >= 0:
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
