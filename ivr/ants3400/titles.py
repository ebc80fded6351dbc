"""The four title types of the 34 00 line and how the IVR names them (callers' words: ``title_words``)."""

from __future__ import annotations

__all__ = ["TITLE_TYPES", "TITLE_LABELS", "TITLE_REQUESTS"]

TITLE_TYPES = ("carte_grise", "permis", "cni", "passeport")

#: How the IVR names each title type when it speaks.
TITLE_LABELS = {
    "carte_grise": "carte grise",
    "permis": "permis de conduire",
    "cni": "carte nationale d'identité",
    "passeport": "passeport",
}
#: « Votre demande … » in a status readback.
TITLE_REQUESTS = {"carte_grise": "de carte grise", "permis": "de permis de conduire",
                  "cni": "de carte d'identité", "passeport": "de passeport"}
