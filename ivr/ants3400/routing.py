"""What the 34 00 routing rules can test about a call (``ivr/ants3400/rules.yaml``)."""

from __future__ import annotations

from typing import Any

from ..interfaces import CallView

__all__ = ["FACT_TYPES", "routing_facts"]

#: Facts of the 34 00 line and the type of their values.
FACT_TYPES: dict[str, type] = {"title": str, "status": str, "complex": bool, "expertise": bool, "caller_type": str}


def routing_facts(call: CallView) -> dict[str, Any]:
    """The title asked about and what the tracking service said of the file (flow variables
    ``title`` and ``dossier``)."""
    found = call.variables.get("dossier")
    dossier: dict[str, Any] = found if isinstance(found, dict) else {}
    return {
        "title": call.variables.get("title"),
        "status": dossier.get("status"),
        "complex": bool(dossier.get("complex") or dossier.get("expertise")),
        "expertise": bool(dossier.get("expertise")),
        "caller_type": call.variables.get("caller_type"),
    }
