"""The line ``ivr bench sip --speech`` serves: the 34 00 profile, plus a question for numbers said in
Korean (the only real speech model this machine has), and a flow that asks it twice.

The French model cannot be had here, and the Korean one knows no French: a bench of speaking
callers on the real stack needs answers the loaded model can hear. Each caller says two digit strings
in Korean (the offline voice); the slot ``ko_number`` takes them, and its « key » passes for what the
engine hears of each clip, as the bench decoded it beforehand (the file named by
``IVR_BENCH_HEARD``, a JSON list), so that a whole answer ends its question early as a French file
number with a valid key does. Started with ``IVR_PROFILE=ivr.bench.speaking_line:PROFILE`` and a flows
folder holding :data:`FLOW` (named ``ants-3400``: the dialplan runs that flow).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from functools import lru_cache

from ..ants3400.profile import PROFILE as ANTS_PROFILE
from ..ants3400.profile import SLOTS
from .speech import KO_SLOT

__all__ = ["PROFILE", "FLOW", "HEARD_ENV", "KO_NUMBER"]

#: The environment variable naming the JSON list of the digit strings the engine hears in the clips.
HEARD_ENV = "IVR_BENCH_HEARD"


@lru_cache(maxsize=1)
def _heard() -> frozenset[str]:
    path = os.environ.get(HEARD_ENV)
    if not path:
        return frozenset()
    with open(path, encoding="utf-8") as f:
        return frozenset(str(v) for v in json.load(f))


#: A whole answer has as many digits as the shortest string heard (a French file number has ten): the
#: recogniser's final result is asked for at a pause one digit short of it (see ivr.listening.speech).
KO_NUMBER = replace(KO_SLOT, name="ko_number", accept=lambda value: value in _heard(),
                    length=min((len(h) for h in _heard()), default=KO_SLOT.length))

PROFILE = replace(ANTS_PROFILE, name="bench-speaking", slots={**SLOTS, KO_NUMBER.name: KO_NUMBER})

#: Two spoken numbers, then goodbye. The prompts are the 34 00's (no new recording needed); a question
#: that fails ends at an agent, which the bench counts as a failed call.
FLOW = """\
flow: ants-3400
description: Banc d'essai - deux numéros dits en coréen (ivr bench sip --speech)
start: premier
defaults:
  timeout: 6
  retries: 2
  end_silence: 0.8
  complete_answer_silence: 0.15
  on_fail: echec
  min_confidence: 0     # the Korean voice is heard unsurely; what counts here is when, not how sure
  agent: conseiller
nodes:
  premier:
    kind: collect
    slot: ko_number
    store: premier
    prompt: demande_numero
    keypad_prompt: demande_numero_clavier
    max_digits: 32
    next: second
  second:
    kind: collect
    slot: ko_number
    store: second
    prompt: demande_numero
    keypad_prompt: demande_numero_clavier
    max_digits: 32
    next: fin
  fin:
    kind: hangup
    prompts: [au_revoir]
    outcome: self_served
  echec:
    kind: route
    queue: auto
    reason: not_understood
    prompts: [trop_essais, transfert]
  conseiller:
    kind: route
    queue: auto
    reason: agent_requested
    prompts: [transfert]
"""
