"""Realistic bad edits of the shipped line, as an administrator makes them: each is refused by the checker
(the same ``load_line`` as ``ivr flows check`` and a running server's reload) with the message that leads
to the fix, at the line to fix — never passed silently, never a cascade of false errors.

Each case copies the shipped flow, catalog (with its rendered audio), rules and Asterisk configuration,
changes one thing, and checks the line again.
"""

from __future__ import annotations

import shutil
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.ants3400.profile import PROFILE
from ivr.asterisk_config import DEFAULT_ASTERISK_ETC
from ivr.config import DEFAULT_FLOWS_DIR, DEFAULT_PROMPTS_DIR, DEFAULT_RULES
from ivr.server.checks import declared_lookups
from ivr.server.line import LineSources, load_line
from tests.wav_cases import CASES

FLOW = "flows/ants-3400.yaml"
CATALOG = "prompts/catalog.yaml"
RULES = "rules.yaml"
DIALPLAN = "asterisk/extensions.conf"


@pytest.fixture
def line(tmp_path: Path) -> Path:
    """A copy of the shipped line an edit may change."""
    shutil.copytree(DEFAULT_FLOWS_DIR, tmp_path / "flows")
    shutil.copytree(DEFAULT_PROMPTS_DIR, tmp_path / "prompts", ignore=shutil.ignore_patterns("cache"))
    shutil.copy(DEFAULT_RULES, tmp_path / RULES)
    shutil.copytree(DEFAULT_ASTERISK_ETC, tmp_path / "asterisk")
    return tmp_path


def check(root: Path) -> list[str]:
    sources = LineSources(flows=[root / "flows"], catalog=root / CATALOG, rules=root / RULES,
                          asterisk=root / "asterisk")
    config, errors = load_line(sources, PROFILE, declared_lookups(PROFILE))
    assert (config is None) == bool(errors)
    return errors


def replace(root: Path, file: str, old: str, new: str) -> None:
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, f"{old!r} is not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(root: Path, file: str, needle: str, after: str = "") -> int:
    """The first line holding ``needle`` (after the first line holding ``after``)."""
    lines = (root / file).read_text(encoding="utf-8").splitlines()
    start = next(i for i, text in enumerate(lines, 1) if after in text) if after else 0
    return next(i for i, text in enumerate(lines, 1) if i > start and needle in text)


def write_audio(path: Path, *, rate: int = 8000, channels: int = 1, width: int = 2, frames: int = 800) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\x00" * frames * channels * width)


@dataclass(frozen=True)
class Edit:
    """One bad edit: what it changes, where the error must point (file, text on that line), and the message."""

    name: str
    change: Callable[[Path], None]
    file: str
    needle: str
    message: str
    #: The needle's line is the first after the line holding this (when the needle is not unique).
    after: str = ""


def text_edit(file: str, old: str, new: str) -> Callable[[Path], None]:
    return lambda root: replace(root, file, old, new)


EDITS = [
    # -- 1. the line as Asterisk meets it -----------------------------------------------------------------
    Edit("the flow renamed, the dialplan still runs the old name",
         text_edit(FLOW, "flow: ants-3400", "flow: ants-3400-v2"), FLOW, "flow: ants-3400-v2",
         "flow 'ants-3400-v2': the dialplan runs flow 'ants-3400'"),
    Edit("a context value the dialplan does not pass on to the agent",
         text_edit(FLOW, 'context: {title: "{title}"}', 'context: {title: "{title}", motif: "{title}"}'),
         FLOW, "motif:", "the dialplan does not pass IVR_MOTIF on to the agent's channel"),
    Edit("a queue Asterisk's queues.conf lacks",
         text_edit(RULES, "queues: [inhouse, contractor]", "queues: [inhouse, contractor, accueil]"),
         RULES, "queues: [inhouse", "queues.2: Asterisk defines no queue 'accueil' (queues.conf has contractor, "
                                    "inhouse): a caller sent there would hear « mise en relation », then be hung up on"),
    Edit("a prompt recorded at 44.1 kHz",
         lambda root: write_audio(root / "prompts/wav/au_revoir.wav", rate=44100), FLOW, "prompts: [au_revoir]",
         "prompt 'au_revoir': its audio file is 44100 Hz: Asterisk plays 8000 Hz mono 16-bit PCM only; Asterisk "
         "would not play it and the caller would hear nothing"),
    Edit("a prompt recorded in stereo",
         lambda root: write_audio(root / "prompts/wav/au_revoir.wav", channels=2), FLOW, "prompts: [au_revoir]",
         "its audio file is stereo: Asterisk plays 8000 Hz mono 16-bit PCM only"),
    Edit("an empty prompt recording",
         lambda root: write_audio(root / "prompts/wav/au_revoir.wav", frames=0), FLOW, "prompts: [au_revoir]",
         "its audio file is no audio (the data chunk is empty)"),
    Edit("the apology prompt removed from the catalog",
         text_edit(CATALOG, "  desole_erreur: >-", "  desole_erreur_ancien: >-"), CATALOG, "prompts:",
         "prompt 'desole_erreur' is not in the catalog: the IVR plays it itself, before handing a call that "
         "failed in the IVR to an agent"),
    Edit("the callback offer removed from the catalog",
         text_edit(CATALOG, "  offre_rappel: >-", "  offre_rappel_ancien: >-"), FLOW, "conseiller_demande:",
         "prompt 'offre_rappel' is not in the prompt catalog"),
    # -- 2. values by type and domain ----------------------------------------------------------------------
    Edit("a number quoted in a rule",
         text_edit(RULES, "{calls_today: {at_least: 3}}", '{calls_today: {at_least: "3"}}'), RULES, "at_least",
         "calls_today.at_least: '3' is not a number: write 3 without quotes"),
    Edit("a boolean quoted in a rule",
         text_edit(RULES, "when: {complex: true}", 'when: {complex: "true"}'), RULES, 'complex: "true"',
         "complex: 'true' is not true or false: write true or false, without quotes"),
    Edit("a YAML 1.1 yes",
         text_edit(FLOW, "    barge_in: true\n", "    barge_in: yes\n"), FLOW, "barge_in: yes",
         "yes is read as the word 'yes', not as true (YAML 1.1 habit): write true, or quote it (\"yes\")"),
    Edit("a hang-up's outcome the line records itself",
         text_edit(FLOW, "outcome: closed_hours", "outcome: routed"), FLOW, "outcome: routed",
         "should be 'self_served' or 'closed_hours', not 'routed' (the line records the others itself)"),
    Edit("a lookup argument the tracking service does not take",
         text_edit(FLOW, 'file_number: "{file_number}"}', 'numero: "{file_number}"}'), FLOW, 'numero: "{file_number}"',
         "service 'tracking' takes no argument 'numero' (it takes file_number, title_type): every caller's lookup "
         "would go without it"),
    Edit("double braces around a lookup argument",
         text_edit(FLOW, 'file_number: "{file_number}"}', 'file_number: "{{file_number}}"}'), FLOW, "{{file_number}}",
         "one pair of braces names a variable ({file_number}); with two, the value would arrive wrapped in braces"),
    Edit("a result field the lookup never returns",
         text_edit(FLOW, '{dossier.next_step}', '{dossier.prochaine_etape}'), FLOW, "prochaine_etape",
         "{dossier.prochaine_etape} reads field 'prochaine_etape', which 'dossier' never holds"),
    Edit("a lookup that promises to wait longer than the tracking client does",
         text_edit(FLOW, "    timeout: 2\n", "    timeout: 8\n"), FLOW, "    timeout: 8",
         "service 'tracking' gives up after 2 s (its client's timeout): 8 s here would never be waited"),
    Edit("a lookup status left unhandled",
         text_edit(FLOW, "      invalid: dossier_inconnu\n", ""), FLOW, "    on:",
         "service 'tracking' may also return 'invalid': say where each goes"),
    Edit("a branch on a status the service never returns",
         text_edit(FLOW, "{var: numero_ressaisi, exists: true,", "{var: dossier.status, equals: refusé,"), FLOW,
         "equals: refusé", "'refusé' is never a status (did you mean 'refuse'?)"),
    Edit("a rule on a reason no flow gives",
         text_edit(RULES, "  - name: tout le reste", "  - name: conseiller demandé\n    when: {reason: agent_request}\n"
                                                    "    queue: inhouse\n  - name: tout le reste"),
         RULES, "reason: agent_request", "no flow hands a caller over with reason 'agent_request' (did you mean "
                                         "'agent_requested'?): this test could never match"),
    Edit("a rule shadowed by an earlier one",
         text_edit(RULES, "  - name: tout le reste", "  - name: refusé et complexe\n    when: {status: refuse, "
                                                    "complex: true}\n    queue: contractor\n  - name: tout le reste"),
         RULES, "name: refusé et complexe", "rule 'refusé et complexe' can never match: rule \"dossier en centre "
                                            "d'expertise ou complexe\""),
    Edit("an overflow back to its own queue",
         text_edit(RULES, "    to: contractor", "    to: inhouse"), RULES, "    to: inhouse",
         "overflow.0.to: an overflow goes to another queue, not back to 'inhouse'"),
    Edit("a callback offered before the wait is announced",
         text_edit(RULES, "announce_above: 60 ", "announce_above: 600 "), RULES, "callback_above",
         "callback_above (300 s) is below announce_above (600 s): callers would be offered a callback without"),
    Edit("an opening range added over another",
         text_edit(FLOW, '"07:45-22:00"', '"07:45-22:00, 21:00-23:00"'), FLOW, "07:45-22:00, 21:00-23:00",
         "weekly.mon: opening ranges 07:45-22:00 and 21:00-23:00 overlap: write one range, 07:45-23:00"),
    Edit("a menu choice on the repeat key",
         text_edit(FLOW, 'key: "4"', 'key: "*"'), FLOW, 'key: "*"',
         "key * is the repeat key (defaults.repeat_key): a caller pressing it hears the question again, never "
         "this choice"),
    Edit("the repeat key made the agent key",
         text_edit(FLOW, '  agent_key: "0"\n', '  agent_key: "0"\n  repeat_key: "0"\n'), FLOW, 'repeat_key: "0"',
         "0 is already the agent key: a caller could not ask for both"),
    Edit("a menu choice on the pause key",
         text_edit(FLOW, 'key: "4"', 'key: "9"'), FLOW, 'key: "9"',
         "key 9 is the pause key (defaults.pause.key): a caller pressing it is given time to answer, never this "
         "choice"),
    Edit("the pause key made the agent key",
         text_edit(FLOW, '  agent_key: "0"\n', '  agent_key: "0"\n  pause: {key: "0"}\n'), FLOW, 'pause: {key: "0"}',
         "0 is already the agent key: a caller could not ask for both"),
    # -- 3. the paths a caller can take --------------------------------------------------------------------
    Edit("a tracking failure ending in the goodbye of a served caller",
         text_edit(FLOW, "on_error: suivi_indisponible", "on_error: fin_servi"), FLOW, "on_error: fin_servi",
         "node 'recherche': a failure (erreur) leads to fin_servi, which ends the call as self_served: a caller "
         "the IVR could not help would be hung up on and counted as served"),
    Edit("a closed-hours hang-up without a word",
         text_edit(FLOW, "    prompts: [ferme]\n", ""), FLOW, "outcome: closed_hours",
         "node 'fermeture': the call ends here (closed_hours) without a word to the caller: give it prompts"),
    Edit("no input sends the caller back to the welcome",
         text_edit(FLOW, "    store: title\n", "    store: title\n    noinput: {next: accueil}\n"), FLOW, "  accueil:",
         "a caller who says nothing or is not understood goes round accueil → annonce → titre → accueil without end"),
    Edit("a question that gives a second to answer",
         text_edit(FLOW, "    store: title\n", "    store: title\n    timeout: 1\n"), FLOW, "timeout: 1",
         "timeout 1 s gives a caller 1 s to start answering: callers who need time (to hear the question out, to "
         "find their paper) would be told they were not heard; write at least 3 (defaults.min_answer_time)"),
    Edit("every question given two seconds to answer",
         text_edit(FLOW, "  timeout: 6 ", "  timeout: 2 "), FLOW, "  timeout: 2 ",
         "defaults.timeout: timeout 2 s gives a caller 2 s to start answering"),
    Edit("a menu a silent caller hears eight times before an agent",
         text_edit(FLOW, "    store: title\n", "    store: title\n    retries: 8\n"), FLOW, "  titre:",
         "node 'titre': a caller who says nothing hears prompts and waits"),
    Edit("a file number asked ten times, twenty seconds each, of a caller no longer understood",
         text_edit(FLOW, "    slot: file_number\n", "    slot: file_number\n    retries: 10\n    timeout: 20\n"), FLOW,
         "  numero:", "node 'numero': a caller who says nothing hears prompts and waits"),
    Edit("an agent key a phone cannot choose with",
         text_edit(FLOW, 'agent_key: "0"', 'agent_key: "#"'), FLOW, "agent_key",
         "the agent key is one of 0-9 and *, not '#' (# ends what the caller types"),
    Edit("a menu choice on two keys",
         text_edit(FLOW, '{value: permis, key: "2"', '{value: permis, key: "22"'), FLOW, 'key: "22"',
         "a choice key is one of 0-9 and *, not '22'"),
    Edit("a spoken-answer prompt on a question asked with keys only",
         text_edit(FLOW, "    keypad_prompt: question_repondue_clavier\n", ""), FLOW, "prompt: question_repondue",
         "prompt 'question_repondue' asks the caller to speak, but callers hear it when only keys work"),
    Edit("« dites oui ou non » on a keypad-only question",
         text_edit(FLOW, "    prompt: satisfaction\n", "    prompt: question_repondue\n"), FLOW,
         "prompt: question_repondue", "prompt 'question_repondue' asks the caller to speak", after="  satisfaction:"),
    Edit("a tracking failure ending in the closed-line message",
         text_edit(FLOW, "on_error: suivi_indisponible", "on_error: fermeture"), FLOW, "on_error: fermeture",
         "a failure (erreur) leads to fermeture, which ends the call as closed_hours"),
    Edit("a number asked with more digits than it may have",
         text_edit(FLOW, "min_digits: 10", "min_digits: 12"), FLOW, "max_digits: 10",
         "max_digits (10) is less than min_digits (12)"),
    # -- 4. messages that lead to the fix ------------------------------------------------------------------
    Edit("a Cyrillic letter in a slot name",
         text_edit(FLOW, "slot: file_number", "slot: file_numbеr"), FLOW, "slot: file_numb",
         "unknown slot 'file_numbеr' (it contains a « е » CYRILLIC SMALL LETTER IE (U+0435) at character 10: "
         "retype it)"),
    Edit("a no-break space in a target",
         text_edit(FLOW, "next: question_repondue", "next: question\u00a0repondue"), FLOW, "question\u00a0repondue",
         "(it contains a NO-BREAK SPACE (U+00A0) at character 9: retype it)"),


    Edit("a key written as a number",
         text_edit(FLOW, '{value: carte_grise, key: "1"', '{value: carte_grise, key: 1'), FLOW, "key: 1,",
         "choices.0.key: should be a valid string (put it in quotes: YAML reads 1 as a number"),
]

#: Edits whose root cause used to come with false consequences: exactly these messages, nothing else.
ROOT_CAUSE_ALONE = [
    Edit("a lookup's store misspelt",
         text_edit(FLOW, "    store: dossier\n", "    stor: dossier\n"), FLOW, "stor: dossier",
         "unknown field 'stor' (did you mean 'store'?)"),
    Edit("a lookup's kind misspelt",
         text_edit(FLOW, "    kind: lookup\n", "    kind: lookpu\n"), FLOW, "kind: lookpu",
         "unknown node kind 'lookpu' (did you mean 'lookup'?)"),
    Edit("a menu's store misspelt",
         text_edit(FLOW, "    store: title\n", "    stored: title\n"), FLOW, "stored: title",
         "unknown field 'stored' (did you mean 'store'?)"),
]


@pytest.mark.parametrize("edit", ROOT_CAUSE_ALONE, ids=[e.name for e in ROOT_CAUSE_ALONE])
def test_a_broken_node_is_reported_alone_without_false_consequences(line, edit):
    edit.change(line)
    errors = check(line)
    assert any(edit.message in e for e in errors), errors
    assert not [e for e in errors if "no node sets" in e or "unreachable" in e], errors


@pytest.mark.parametrize("edit", EDITS, ids=[e.name for e in EDITS])
def test_a_bad_edit_is_refused_at_its_line_with_what_to_do(line, edit):
    assert check(line) == []  # the shipped line passes, with its Asterisk configuration
    edit.change(line)
    errors = check(line)
    where = f"{line / edit.file}:{line_of(line, edit.file, edit.needle, edit.after)}: "
    hits = [e for e in errors if e.startswith(where) and edit.message in e]
    assert hits, (where, edit.message, errors)


def test_the_shipped_line_passes_against_its_own_asterisk_configuration(line):
    assert check(line) == []


def test_a_missing_asterisk_configuration_is_said_not_ignored(line):
    shutil.rmtree(line / "asterisk")
    (line / "asterisk").mkdir()
    assert check(line) == [f"{line / 'asterisk'}: no extensions.conf and queues.conf here (Asterisk's configuration)"]


def test_a_wav_header_is_judged_as_asterisk_judges_it():
    def header(encoding: int = 1, channels: int = 1, rate: int = 8000, bits: int = 16, data: int = 2) -> bytes:
        fmt = struct.pack("<HHIIHH", encoding, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
        return b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt \
            + b"data" + struct.pack("<I", data) + b"\0" * data

    from ivr.audio.wav import playable_problem

    assert playable_problem(header()) is None
    assert playable_problem(header(rate=16000)) == "16000 Hz: Asterisk plays 8000 Hz mono 16-bit PCM only"
    assert playable_problem(header(channels=2, bits=8)) == "stereo, 8-bit: Asterisk plays 8000 Hz mono 16-bit PCM only"
    assert playable_problem(header(encoding=7)).startswith("encoding 7 (not linear PCM)")
    assert playable_problem(header(data=0)) == "no audio (the data chunk is empty)"
    assert playable_problem(b"ID3\x04" + b"\0" * 40) == "not a WAV file (no RIFF/WAVE header)"
    # A chunk before the audio (a LIST of tags, as editors write) is skipped, padded to an even length.
    tagged = header()[:36] + b"LIST" + struct.pack("<I", 3) + b"abc\0" + header()[36:]
    assert playable_problem(tagged) is None


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_checker_and_the_simulator_judge_a_wav_as_asterisk_does(case, tmp_path):
    # What Asterisk does with each file is asked of the real one in tests/e2e/test_prompt_audio.py.
    from ivr.audio.wav import wav_problem
    from ivr.sim.channel import prompt_length_from_disk

    (tmp_path / "prompt.wav").write_bytes(case.content)
    assert (wav_problem(tmp_path / "prompt.wav") is not None) == case.checker_refuses
    length = prompt_length_from_disk(str(tmp_path / "prompt"))  # None: STREAM FILE answers -1
    assert (length is not None) == case.asterisk_plays
    if length is not None:
        assert length == pytest.approx(case.seconds)


def test_the_dialplan_is_read_as_asterisk_reads_it():
    from ivr.asterisk_config import read_dialplan, read_queues

    dialplan = read_dialplan(
        "[ivr]\n"
        "exten => s,1,AGI(agi://${HOST}:4573/ants-3400,sip_call_id=${ID})\n"
        " same => n,AGI(agi://ivr/other)  ; a second flow\n"
        "; same => n,AGI(agi://ivr/commented-out)\n"
        " same => n,Set(__IVR_TITLE=${IVR_TITLE})\n"
        " same => n,Set(IVR_LOCAL=1)\n", "e.conf")
    assert {name: str(w) for name, w in dialplan.flows.items()} == {"ants-3400": "e.conf:2", "other": "e.conf:3"}
    assert set(dialplan.forwarded) == {"IVR_TITLE"}
    queues = read_queues("[general]\n[tpl](!)\n[inhouse](tpl)\n; [old]\n[contractor]\n", "q.conf")
    assert {name: w.line for name, w in queues.items()} == {"inhouse": 3, "contractor": 5}


# -- 5. warnings: accepted, shown, never blocking ----------------------------------------------------------


@pytest.mark.parametrize("old, new, needle, message", [
    ('closed_dates: []', 'closed_dates: ["2001-12-24", "2001-12-31"]', 'closed_dates: ["2001',
     "every closed date is in the past (the last, 2001-12-31): were this year's dates meant?"),
    ('timezone: Europe/Paris', 'timezone: Etc/GMT-1', "timezone: Etc/GMT-1",
     "Etc/GMT-1 is 1 h ahead of UTC, the opposite of what it reads, and never follows summer time"),
    ("    store: title\n", "    store: title\n    retries: 4\n", "  titre:",
     "node 'titre': a caller who says nothing waits"),
])
def test_a_suspicious_edit_is_accepted_with_a_warning_at_its_line(line, old, new, needle, message):
    replace(line, FLOW, old, new)
    sources = LineSources(flows=[line / "flows"], catalog=line / CATALOG, rules=line / RULES, asterisk=line / "asterisk")
    config, errors = load_line(sources, PROFILE, declared_lookups(PROFILE))
    assert errors == [] and config is not None
    where = f"{line / FLOW}:{line_of(line, FLOW, needle)}: "
    assert [w for w in config.warnings if w.startswith(where) and message in w], config.warnings


def test_the_shipped_line_has_no_warning(line):
    sources = LineSources(flows=[line / "flows"], catalog=line / CATALOG, rules=line / RULES, asterisk=line / "asterisk")
    config, _ = load_line(sources, PROFILE, declared_lookups(PROFILE))
    assert config is not None and config.warnings == []
