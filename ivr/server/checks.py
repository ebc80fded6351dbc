"""What flows are checked against: the prompt catalog, the lookup services' statuses, the routing
queues and the line's profile — the same for ``ivr flows check`` and for a running server's reload."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..audio.wav import wav_duration, wav_problem
from ..engine.template import FILTERS
from ..engine.validate import ValidationContext
from ..interfaces import LineProfile, LookupSpec
from ..tts.catalog import Catalog

__all__ = ["validation_context", "offline_context", "declared_lookups"]


#: A French prompt that asks the caller to speak: « dites… », « parlez », « prononcez ».
_ASKS_TO_SPEAK = re.compile(r"\b(dites|dire|parlez|prononcez)\b", re.IGNORECASE)


def validation_context(catalog: Catalog, lookups: Mapping[str, LookupSpec], profile: LineProfile,
                       queues: Iterable[str], *, check_prompts: bool = True) -> ValidationContext:
    """``lookups``: each lookup service's name and what it declares."""
    prompts = set(catalog.prompts)
    unrendered = {p for p in prompts if not catalog.wav_path(p).exists()}
    unplayable = {p: problem for p in prompts - unrendered if (problem := wav_problem(catalog.wav_path(p)))}
    seconds = {p: wav_duration(catalog.wav_path(p)) for p in prompts - unrendered - set(unplayable)}
    asks_to_speak = {p.id for p in catalog.prompts.values() if _ASKS_TO_SPEAK.search(p.text)}
    return ValidationContext(prompts=prompts, unrendered=unrendered, unplayable=unplayable, asks_to_speak=asks_to_speak,
                             prompt_seconds=seconds,
                             services=dict(lookups),
                             queues=(*queues, "auto"), check_prompts=check_prompts, slots=dict(profile.slots),
                             validators=set(profile.validators), filters=set(FILTERS) | set(profile.filters))


def declared_lookups(profile: LineProfile) -> dict[str, LookupSpec]:
    """What the profile's lookup services declare (read off services that are never connected)."""
    from ..config import Settings
    from ..tracking.client import TrackingClient

    # The client as a server started here would build it (its timeout from IVR_TRACKING_TIMEOUT).
    client = TrackingClient("http://declared.invalid", timeout=Settings().tracking_timeout)
    return {name: LookupSpec.of(s) for name, s in profile.lookups(client).items()}


def offline_context(prompts_dir: Path, rules: Path | None = None, profile: LineProfile | None = None) -> ValidationContext:
    """The context ``ivr flows check`` uses: what a server started with these files would check
    (the 34 00 profile, its routing rules, the tracking client's statuses)."""
    from ..ants3400.profile import PROFILE
    from ..config import DEFAULT_RULES
    from ..routing.rules import load_rules
    from ..tts.catalog import load_catalog

    profile = profile or PROFILE
    catalog = load_catalog(prompts_dir / "catalog.yaml")
    routing = load_rules(rules or DEFAULT_RULES, profile.fact_types)
    return validation_context(catalog, declared_lookups(profile), profile, routing.queues)
