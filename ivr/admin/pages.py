"""The console's HTML pages, built from the status data (no I/O here: data in, a page out).

Everything shown is escaped; the pages carry no inline script or style (the Content-Security-Policy
allows only the console's own ``/static`` files). Live tables name a JSON source
(``data-source``) that ``console.js`` polls, so they refresh without reloading the page.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ..calls.outcomes import Outcome
from ..interfaces import Serving
from .daily import DayFigures, days_svg
from .kpis import ERROR_BANNER, FUNNEL_COLUMNS, WINDOWS

__all__ = ["layout", "table", "e", "markup", "Html", "LOGOUT",
           "overview_page", "calls_page", "call_page", "kpis_page", "flows_page", "flow_page", "notices_page",
           "not_found_page",
           "WINDOW_NAMES", "REFRESH_SECONDS"]

#: The console's name when the line's profile gives none.
BRAND = "SVI"
#: How often the live tables refresh themselves.
REFRESH_SECONDS = 2
WINDOW_NAMES = {"today": "Aujourd'hui", "last_hour": "Dernière heure", "last_7_days": "7 derniers jours"}
_NAV = (("/", "Vue d'ensemble"), ("/calls", "Appels"), ("/kpis", "Indicateurs"), ("/flows", "Parcours"),
        ("/versions", "Versions"), ("/drafts", "Brouillon"), ("/notices", "Annonces"), ("/audit", "Journal"),
        ("/metrics", "Métriques"))
_OUTCOMES = {Outcome.SELF_SERVED: "servi par le SVI", Outcome.CLOSED_HOURS: "hors horaires",
             Outcome.CALLER_HANGUP: "raccroché", Outcome.ERROR_ROUTED: "transféré sur erreur",
             Outcome.CALLBACK: "rappel programmé"}


#: The sign-out button of every page's header (taken out of the pages of someone without a session).
LOGOUT = "<form method='post' action='/logout' class='logout'><button>Se déconnecter</button></form>"


class Html(str):
    """Text that is HTML already: written into a page as it is. Made only by :func:`e` (escaping) and
    :func:`markup`; every other value a page shows is escaped."""


def e(value: object) -> Html:
    """``value`` as text in HTML: escaped (what is HTML already stays as it is)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value)))


def markup(fragment: str) -> Html:
    """The one way to mark a string as HTML: for fragments built here from escaped parts (a link
    around an escaped name, a meter). Anything a caller, an administrator or a file supplies goes
    through :func:`e` first."""
    return Html(fragment)


def _outcome(text: str) -> str:
    outcome = Outcome.of(text)
    if outcome is Outcome.ROUTED:
        return f"transféré (file {text.partition(':')[2]})"
    return _OUTCOMES.get(outcome, text) if outcome is not None else text


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")


def _duration(ms: int | float | None) -> str:
    if ms is None:
        return "—"
    seconds = int(ms) // 1000
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _slots(slots: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in slots.items()) or "—"


def table(headers: Iterable[str], rows: Iterable[Iterable[object]], *, empty: str = "aucune donnée",
          attrs: str = "") -> str:
    """An HTML table; every cell is escaped but the ones that are :class:`Html` already."""
    heads = list(headers)
    head = "".join(f"<th scope='col'>{e(h)}</th>" for h in heads)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
    if not body:
        body = f"<tr class='empty'><td colspan='{len(heads)}'>{e(empty)}</td></tr>"
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def layout(title: str, body: str, *, active: str, brand: str, banners: Iterable[tuple[str, str]] = ()) -> str:
    """A console page: the header with the navigation (and a sign-out button, which works only for a
    signed-in browser), the banners, the title and ``body`` (HTML already)."""
    nav = "".join(f"<a href='{href}'{' aria-current=page' if href == active else ''}>{e(name)}</a>"
                  for href, name in _NAV)
    nav += LOGOUT
    notes = "".join(f"<div class='banner {kind}' role='alert'>{e(text)}</div>" for kind, text in banners)
    return ("<!doctype html><html lang='fr'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{e(title)} · {e(brand)}</title><link rel='stylesheet' href='/static/console.css'>"
            "<link rel='icon' href='/static/favicon.svg' type='image/svg+xml'>"
            "<script src='/static/console.js' defer></script></head><body>"
            f"<header><span class='brand'>{e(brand)}</span><nav>{nav}</nav></header>"
            f"<main>{notes}<h1>{e(title)}</h1>{body}</main></body></html>")


def banners(kpis: Mapping[str, Any], checks: Mapping[str, Any] | None, flows: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The alerts at the top of every page: the error rate, then the parts that are down."""
    out = []
    hour = kpis["windows"]["last_hour"]
    if kpis.get("error_banner"):
        out.append(("error", f"Taux d'erreur élevé : {hour['errors']} appels transférés sur erreur dans la "
                             f"dernière heure ({_pct(hour['error_rate'])} des appels pris en charge ; seuil "
                             f"{ERROR_BANNER['min_rate'] * 100:.0f} %). Consultez les journaux du serveur."))
    if flows is not None and flows["line"].get("rejected"):
        serving = ("la dernière version acceptée" if flows["line"].get("serving") == Serving.ACCEPTED_COPY
                   else "la version en cours")
        out.append(("warning", markup(f"Les fichiers de parcours sur disque ont été refusés : {e(serving)} reste en "
                                      "service. <a href='/flows'>Voir les erreurs</a>.")))
    if checks is not None:
        tracking = str(checks.get("tracking", ""))
        if tracking != "ok":
            out.append(("warning", f"Service de suivi des dossiers indisponible ({tracking}) : les appelants "
                                   "sont orientés vers un conseiller."))
        ami = checks.get("ami")
        if isinstance(ami, str) and ami not in ("connected",) and not ami.startswith("not configured"):
            out.append(("warning", f"Asterisk (AMI) : {ami}. État des files inconnu, pas de rappels."))
        for reason in checks.get("degraded") or []:
            out.append(("warning", f"Fonctionnement dégradé : {reason}."))
        if str(checks.get("speech", "")).startswith("no model"):
            out.append(("info", "Reconnaissance vocale non chargée : les questions se font au clavier."))
    return out


_KPI_ROWS = (
    ("Appels reçus", "calls", None),
    ("Hors horaires (non pris en charge)", "closed", None),
    ("Raccrochés pendant l'accueil (non pris en charge)", "short_abandons", None),
    ("Appels pris en charge par le SVI", "offered", None),
    ("Traités sans conseiller (taux de résolution)", "self_served", "containment"),
    ("Transférés à un conseiller", "transferred", "transfer_rate"),
    ("Rappels programmés", "callbacks", None),
    ("Abandons après la première question", "abandoned", "abandonment"),
    ("Transferts sur erreur du SVI", "errors", "error_rate"),
    ("Reconnaissance vocale réussie (par tentative)", "speech_turns", "recognition_success"),
    ("Réponses données au clavier", None, "keypad_share"),
)


def _kpi_cell(window: Mapping[str, Any], count: str | None, rate: str | None) -> str:
    parts = []
    if rate is not None:
        parts.append(_pct(window[rate]))
    if count is not None:
        n = window[count]
        parts.append(f"{n} tentative{'s' if n != 1 else ''}" if count == "speech_turns" else str(n))
    return " · ".join(parts)


def kpi_table(kpis: Mapping[str, Any]) -> str:
    windows = kpis["windows"]
    rows = [[label] + [_kpi_cell(windows[w], count, rate) for w in WINDOWS] for label, count, rate in _KPI_ROWS]
    rows.append(["Temps moyen passé dans le SVI"] + [
        "—" if windows[w]["mean_ivr_seconds"] is None else f"{windows[w]['mean_ivr_seconds']:.0f} s".replace(".", ",")
        for w in WINDOWS])
    return table(["Indicateur", *WINDOW_NAMES.values()], rows, attrs=" class='kpis'")


def _cards(today: Mapping[str, Any]) -> str:
    cards = (("Pris en charge", str(today["offered"])), ("Taux de résolution", _pct(today["containment"])),
             ("Transferts", _pct(today["transfer_rate"])), ("Abandons", _pct(today["abandonment"])),
             ("Reconnaissance vocale", _pct(today["recognition_success"])), ("Erreurs", str(today["errors"])))
    return "<div class='cards'>" + "".join(
        f"<div class='card'><div class='value'>{e(v)}</div><div class='label'>{e(k)}</div></div>" for k, v in cards
    ) + "</div>"


def live_calls_table(live: Sequence[Mapping[str, Any]]) -> str:
    rows = [[c["call_id"], c["node"], f"{c['seconds']:.0f} s", c["caller"], _slots(c["slots"])] for c in live]
    return ("<p class='live-status' data-for='live-calls'>actualisé toutes les "
            f"{REFRESH_SECONDS} s</p>" + table(
                ["Appel", "Étape", "Durée", "Appelant", "Informations données"], rows, empty="aucun appel en cours",
                attrs=f" id='live-calls' data-source='/calls' data-key='calls' data-refresh='{REFRESH_SECONDS}' "
                      "data-columns='call_id,node,seconds,caller,slots'"))


def queues_table(queues: Mapping[str, Any]) -> str:
    if queues["ami"] == "not configured":
        return "<p>AMI non configuré : l'état des files n'est pas connu (IVR_AMI_USER, IVR_AMI_SECRET).</p>"
    rows = [[q["queue"], q["waiting"], q["agents_free"], q["agents_logged_in"], f"{q['expected_wait_s']} s",
             f"{q['longest_wait_s']} s"] for q in queues["queues"]]
    return f"<p>AMI : {e(queues['ami'])}</p>" + table(
        ["File", "Appelants en attente", "Conseillers libres", "Conseillers connectés", "Attente prévue",
         "Attente la plus longue"], rows, empty="aucune file connue",
        attrs=f" id='queues' data-source='/queues' data-key='queues' data-refresh='{REFRESH_SECONDS * 2}' "
              "data-columns='queue,waiting,agents_free,agents_logged_in,expected_wait_s,longest_wait_s'")


def overview_page(*, kpis: Mapping[str, Any], checks: Mapping[str, Any], queues: Mapping[str, Any],
                  live: Sequence[Mapping[str, Any]], flows: Mapping[str, Any], ready: bool, brand: str = BRAND) -> str:
    """The console's home page: the line's state, the indicators, the queues, the calls in progress."""
    state = "en service" if ready else "hors service"
    parts = [f"<p class='state {'ok' if ready else 'down'}'>{e(brand)} {state} · parcours "
             f"{e(', '.join(f['name'] + ' ' + f['version'] for f in flows['flows']) or 'aucun')}</p>",
             "<h2>Aujourd'hui</h2>", _cards(kpis["windows"]["today"]),
             "<h2>Appels en cours</h2>", live_calls_table(live),
             "<h2>Files des conseillers</h2>", queues_table(queues),
             "<h2>Indicateurs</h2>", kpi_table(kpis),
             "<p><a href='/kpis'>Détail : transferts, abandons, entonnoir par étape</a></p>"]
    return layout("Vue d'ensemble", "".join(parts), brand=brand, active="/", banners=banners(kpis, checks, flows))


def calls_page(*, live: Sequence[Mapping[str, Any]], recent: Sequence[Mapping[str, Any]],
               kpis: Mapping[str, Any], brand: str = BRAND) -> str:
    """The calls page: those in progress, then the recent ones."""
    rows = [[e(r.get("ended_at", "")[11:19]), markup(f"<a href='/calls/{quote(r['call_id'])}'>{e(r['call_id'])}</a>"),
             e(_outcome(r.get("outcome", ""))), e(r.get("reason") or "—"), e(_duration(r.get("duration_ms"))),
             e((r.get("path") or ["—"])[-1])]
            for r in reversed(recent[-50:])]
    body = ("<h2>En cours</h2>" + live_calls_table(live) + "<h2>Derniers appels terminés</h2>" +
            table(["Fin (UTC)", "Appel", "Issue", "Motif", "Durée", "Dernière étape"], rows,
                  empty="aucun appel terminé"))
    return layout("Appels", body, brand=brand, active="/calls", banners=banners(kpis, None, None))


def _timeline(record: Mapping[str, Any]) -> list[tuple[int | None, str, str]]:
    """(ms from the start, what, details) for every node entered, question answered and lookup, in the
    order they happened (by time, then by the node they happened in)."""
    events: list[tuple[tuple[int, int, int], int | None, str, str]] = []
    times = record.get("path_ms") or []
    for i, node in enumerate(record.get("path") or []):
        ms = times[i] if i < len(times) else None
        events.append(((ms or 0, i, 0), ms, f"étape {node}", ""))
    for entry in record.get("recognition") or []:
        how = {"dtmf": "au clavier", "speech": "à la voix", "none": "sans réponse"}.get(entry.get("mode"), entry.get("mode"))
        details = [f"{entry.get('attempts', 0)} essai(s)"]
        if entry.get("noinput"):
            details.append(f"{entry['noinput']} silence(s)")
        if entry.get("nomatch"):
            details.append(f"{entry['nomatch']} incompris")
        if entry.get("confidence") is not None:
            details.append(f"confiance {entry['confidence']:.2f}")
        if entry.get("ms") is not None:
            details.append(f"reconnu en {entry['ms']:.0f} ms")
        events.append(((entry.get("at_ms") or 0, entry.get("step", 0), 1), entry.get("at_ms"),
                       f"réponse à {entry.get('node', '?')} {how}", ", ".join(details)))
    for lookup in record.get("lookups") or []:
        events.append(((lookup.get("at_ms") or 0, lookup.get("step", 0), 1), lookup.get("at_ms"),
                       f"recherche ({lookup.get('service', '?')}) : {lookup.get('status', '?')}",
                       f"{lookup.get('ms', 0):.0f} ms"))
    if any(ms is None for _, ms, _, _ in events):
        # A record written before the times were kept: nodes, then answers, then lookups.
        return [(ms, what, details) for _, ms, what, details in events]
    return [(ms, what, details) for _, ms, what, details in sorted(events, key=lambda ev: ev[0])]


def call_page(record: Mapping[str, Any], kpis: Mapping[str, Any], brand: str = BRAND) -> str:
    """One call: its facts, its path through the flow and its questions."""
    facts = [
        ("Appel", record.get("call_id")), ("Début (UTC)", record.get("started_at")),
        ("Durée", _duration(record.get("duration_ms"))),
        ("Parcours", f"{record.get('flow') or '—'} {record.get('flow_version') or ''}"),
        ("Appelant", record.get("caller") or "masqué"), ("Issue", _outcome(record.get("outcome", ""))),
        ("File", record.get("queue") or "—"), ("Motif", record.get("reason") or "—"),
        ("Règle de routage", record.get("rule") or "—"),
        ("Attente annoncée", "—" if record.get("expected_wait") is None else f"{record['expected_wait']} s"),
        ("Raccroché à l'étape", record.get("hangup_node") or "—"),
        ("SIP Call-ID", record.get("sip_call_id") or "—"), ("Erreur", record.get("error") or "—"),
    ]
    summary = "<dl class='facts'>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts) + "</dl>"
    timeline = table(["Temps", "Événement", "Détails"],
                     [["—" if ms is None else f"{ms / 1000:.1f} s".replace(".", ","), what, details]
                      for ms, what, details in _timeline(record)], empty="aucune étape")
    slots = table(["Information", "Valeur (masquée)"], sorted((record.get("slots") or {}).items()),
                  empty="aucune information donnée")
    body = (summary + "<h2>Déroulé</h2>" + timeline + "<h2>Informations données</h2>" + slots
            + _journey(record.get("journey")))
    return layout(f"Appel {record.get('call_id')}", body, brand=brand, active="/calls", banners=banners(kpis, None, None))


#: How the call page names a journey's state (``ivr.calls.journey``).
JOURNEY_STATES = {"waiting": "en attente dans la file", "answered": "pris par un conseiller",
                  "abandoned": "a raccroché pendant l'attente", "left": "a quitté la file (touche étoile)",
                  "callback": "rappel réservé", "unknown": "inconnu"}
_ENDED_BY = {"caller": "l'appelant", "agent": "le conseiller", "transfer": "un transfert"}
_CALLBACK_STATES = {"pending": "à rappeler", "dialing": "appel en cours", "done": "rappelé", "failed": "échec",
                    "holding": "tour gardé dans la file"}


def _journey(journey: Mapping[str, Any] | None) -> str:
    """The call after the IVR: the queue, the wait, the agent, the talk, a callback; or why it is unknown."""
    if not journey:
        return ""
    facts: list[tuple[str, object]] = [("État", JOURNEY_STATES.get(str(journey.get("state")), journey.get("state")))]
    if journey.get("why"):
        facts.append(("Pourquoi", journey["why"]))
    if journey.get("queue"):
        facts += [("File", journey["queue"]), ("Place à l'arrivée", journey.get("position") or "—"),
                  ("Attente", f"{journey.get('waited_s', 0)} s"), ("Entrées dans la file", journey.get("joins", 1))]
    if journey.get("answered_in"):
        facts += [("Équipe", journey["answered_in"]), ("Conseiller", journey.get("agent") or "—"),
                  ("Conversation", "en cours" if journey.get("talk_s") is None else f"{journey['talk_s']} s"),
                  ("Raccroché par", _ENDED_BY.get(str(journey.get("ended_by")), "—"))]
    callback = journey.get("callback")
    if callback:
        facts += [("Rappel", f"n° {callback.get('id')} ({callback.get('queue')})"),
                  ("État du rappel", _CALLBACK_STATES.get(str(callback.get("state")), callback.get("state"))),
                  ("Tentatives", callback.get("attempts", 0))]
    items = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts)
    return f"<h2>Après le SVI</h2><dl class='facts journey'>{items}</dl>"


def _days_section(days: Sequence[DayFigures]) -> str:
    """The last days' main figures: a chart and the table behind it, with its CSV file."""
    if not days:
        return ""
    rows = [[d.day, d.calls, d.offered, _share(d.containment), d.ratings, _share(d.satisfaction_4_5), d.waited_out,
             _share(d.service_level)] for d in days]
    return ("<h2>Jour par jour (7 derniers jours)</h2><figure class='chart'>" + days_svg(days) + "</figure>"
            + table(["Jour", "Appels", "Offerts", "Autonomie", "Notes", "Notes 4–5", "Attendu en file",
                     "Niveau de service"], rows)
            + "<p><a href='/kpis/days?format=csv' download>Télécharger ces chiffres (CSV)</a></p>")


def _share(value: object) -> str:
    return "—" if value is None else f"{float(str(value)) * 100:.0f} %"


def _satisfaction_cells(sat: Mapping[str, Any]) -> list[object]:
    return [sat["asked"], sat["rated"], _share(sat["response_rate"]),
            "—" if sat["mean"] is None else f"{sat['mean']:.2f}".replace(".", ","), _share(sat["top_share"])]


def _speed(queue: Mapping[str, Any]) -> str:
    """A queue's average speed of answer, in whole seconds."""
    asa = queue["average_speed_of_answer_s"]
    return "—" if asa is None else f"{asa:.0f} s"


def _judged_on(window: Mapping[str, Any]) -> str:
    """Satisfaction, containment per title and per path, the queues and the callbacks (when the window has them)."""
    if "satisfaction" not in window:
        return ""
    sat_headers = ["Notes demandées", "Notes données", "Taux de réponse", "Moyenne", "Notes 4–5"]
    parts = ["<h3>Satisfaction</h3>" + table(sat_headers, [_satisfaction_cells(window["satisfaction"])])]
    parts.append("<h3>Par type de titre</h3>" + table(
        ["Titre", "Offerts", "Autonomes", "Autonomie", *sat_headers],
        [[key, f["offered"], f["self_served"], _share(f["containment"]), *_satisfaction_cells(f["satisfaction"])]
         for key, f in window["by_segment"].items()], empty="aucun appel"))
    parts.append("<h3>Par parcours</h3>" + table(
        ["Parcours", "Offerts", "Autonomie", "Moyenne des notes"],
        [[p["path"], p["offered"], _share(p["containment"]),
          "—" if p["satisfaction"]["mean"] is None else f"{p['satisfaction']['mean']:.2f}".replace(".", ",")]
         for p in window["by_path"]], empty="aucun appel"))
    if "queues" in window:
        parts.append("<h3>Files d'attente (après le SVI)</h3>" + table(
            ["File", "Reçus", "En attente", "Décrochés", "Dans le délai", "Niveau de service", "Attente moyenne",
             "Abandons", "Taux d'abandon", "Partis (rappel)", "Inconnus"],
            [[q, f["offered"], f["waiting"], f["answered"], f["answered_in_time"], _share(f["service_level"]),
              _speed(f), f["abandoned"], _share(f["abandonment"]), f["left"], f["unknown"]]
             for q, f in window["queues"].items()], empty="aucune file"))
        by_title = [[title, q, f["offered"], f["answered"], _share(f["service_level"]), _speed(f),
                     _share(f["abandonment"]), f["left"]]
                    for title, queues in window.get("queues_by_segment", {}).items() for q, f in queues.items()]
        parts.append("<h3>Files par type de titre</h3>" + table(
            ["Titre", "File", "Reçus", "Décrochés", "Niveau de service", "Attente moyenne", "Taux d'abandon",
             "Partis (rappel)"], by_title, empty="aucun appel en file"))
        cb = window["callback_success"]
        parts.append("<h3>Rappels</h3>" + table(["Réservés", "Rappelés", "Échecs", "En cours", "Réussite"],
                                                [[cb["booked"], cb["done"], cb["failed"], cb["pending"],
                                                  _share(cb["success"])]]))
    return "".join(parts)


def kpis_page(kpis: Mapping[str, Any], window: str, brand: str = BRAND, days: Sequence[DayFigures] = ()) -> str:
    """The indicators over one window, with links to the other windows."""
    chosen = kpis["windows"][window]
    switch = " · ".join(
        f"<strong>{e(name)}</strong>" if key == window else f"<a href='/kpis?window={key}'>{e(name)}</a>"
        for key, name in WINDOW_NAMES.items())
    transfers = table(["File", "Motif", "Appels"], [[t["queue"], t["reason"], t["calls"]] for t in chosen["transfers"]],
                      empty="aucun transfert")
    abandons = table(["Étape", "Appelants partis"], chosen["abandon_points"].items(), empty="aucun abandon")
    funnel_rows = sorted(chosen["funnel"].items(), key=lambda item: -item[1]["visits"])
    top = max((c["visits"] for _, c in funnel_rows), default=0) or 1
    funnel = table(["Étape", "Appels", ""] + ["Sans réponse", "Incompris", "Raccrochés", "Transferts"], [
        [node, counts["visits"], markup(f"<meter min='0' max='{top}' value='{int(counts['visits'])}'></meter>"),
         *[counts[c] for c in FUNNEL_COLUMNS[1:]]] for node, counts in funnel_rows],
        empty="aucun appel", attrs=" class='funnel'")
    outcomes = table(["Issue", "Appels"], [[_outcome(k), v] for k, v in chosen["outcomes"].items()], empty="aucun appel")
    body = (kpi_table(kpis) + "<p class='defs'>Définitions : voir le README, section « Indicators ». "
            f"Fuseau horaire : {e(kpis['timezone'])}.</p>" + _days_section(days) +
            f"<h2>Détail : {e(WINDOW_NAMES[window])}</h2><p>{switch}</p>"
            "<h3>Issues</h3>" + outcomes + "<h3>Transferts par file et motif</h3>" + transfers +
            "<h3>Abandons par étape</h3>" + abandons + "<h3>Entonnoir par étape</h3>" + funnel
            + _judged_on(chosen))
    return layout("Indicateurs", body, brand=brand, active="/kpis", banners=banners(kpis, None, None))


def flows_page(flows: Mapping[str, Any], kpis: Mapping[str, Any], brand: str = BRAND) -> str:
    """The loaded flows, their versions and whether each is serving."""
    rows = [[markup(f"<a href='/flows/{quote(f['name'])}'>{e(f['name'])}</a>"), f["version"], f["description"],
             f["nodes"], {True: "ouvert", False: "fermé", None: "toujours ouvert"}[f["open_now"]], f["path"]]
            for f in flows["flows"]]
    line = flows["line"]
    errors = "".join(f"<li><code>{e(err)}</code></li>" for err in line.get("rejected") or [])
    served = {Serving.FILES: "les fichiers sur disque", Serving.ACCEPTED_COPY: "la dernière version acceptée (copie gardée)",
              Serving.PUBLISHED: f"la version publiée n° {line.get('published')} (les fichiers sur disque sont des "
                                 "brouillons : voir « Versions »)",
              Serving.NOTHING: "rien"}.get(line.get("serving"), line.get("serving"))
    if line.get("serving") == Serving.FILES and line.get("rejected"):
        served = "les fichiers tels qu'ils étaient avant la modification refusée"
    warnings = "".join(f"<li><code>{e(w)}</code></li>" for f in flows["flows"] for w in f.get("warnings") or [])
    body = (table(["Parcours", "Version", "Description", "Étapes", "Horaires", "Fichier"], rows,
                  empty="aucun parcours chargé") +
            (f"<h2>À vérifier</h2><p>Accepté, mais inhabituel :</p><ul class='warnings'>{warnings}</ul>"
             if warnings else "") +
            f"<p>En service : {e(served)} (configuration {e(line.get('version'))} : parcours, règles de "
            "routage et catalogue des messages).</p>"
            "<h2>Dernier rechargement refusé</h2>" + (f"<ul class='errors'>{errors}</ul>" if errors else
                                                     "<p>aucun : les fichiers sur disque sont en service.</p>") +
            "<form method='post' action='/flows/reload'><button>Recharger maintenant</button></form>")
    return layout("Parcours", body, brand=brand, active="/flows", banners=banners(kpis, None, flows))


def flow_page(flow: Mapping[str, Any], flows: Mapping[str, Any], kpis: Mapping[str, Any], brand: str = BRAND) -> str:
    """One flow: its description and its drawing."""
    name = quote(flow["name"])
    body = (f"<p>{e(flow['description'])} · version {e(flow['version'])} · {e(flow['nodes'])} étapes · "
            f"<code>{e(flow['path'])}</code></p>"
            f"<p>Autres formats : <a href='/flows/{name}/graph?format=svg'>SVG</a> · "
            f"<a href='/flows/{name}/graph?format=dot'>Graphviz</a> · "
            f"<a href='/flows/{name}/graph?format=mermaid'>Mermaid</a></p>"
            f"<figure class='graph'><img src='/flows/{name}/graph?format=svg' alt='Schéma du parcours {e(flow['name'])}'>"
            "</figure>")
    return layout(f"Parcours {flow['name']}", body, brand=brand, active="/flows", banners=banners(kpis, None, flows))


def notices_page(notices: Sequence[Mapping[str, Any]], live: int | None, kpis: Mapping[str, Any], *,
                 error: str = "", brand: str = BRAND) -> str:
    """Closure notices: the one callers hear now, a form to switch one on, and every notice with who
    switched it on and off (the audit)."""
    def state(n: Mapping[str, Any]) -> str:
        if n["id"] == live:
            return "diffusée" + (" (ligne fermée)" if n["closes"] else "")
        return f"arrêtée par {n['ended_by']}" if n["ended_at"] else "programmée ou terminée"

    def off(n: Mapping[str, Any]) -> Html:
        if n["ended_at"]:
            return markup("")
        return markup(f"<form method='post' action='/notices/{int(n['id'])}/end'><input name='by' "
                      "placeholder='Votre nom (sans compte)' aria-label='Votre nom'><button>Arrêter</button></form>")
    rows = [[n["id"], n["text"], state(n), n["starts_at"], n["ends_at"] or "—", "oui" if n["closes"] else "non",
             f"{n['created_by']}, {n['created_at']}", off(n)] for n in notices]
    body = ((f"<p class='errors'>{e(error)}</p>" if error else "") +
            "<p>Une annonce est lue à chaque appelant après l'accueil, sur chaque nœud, quelques secondes après "
            "sa mise en service. Fermer la ligne : l'appelant entend l'annonce, puis au revoir.</p>"
            "<form method='post' action='/notices' class='notice-form'>"
            "<label>Texte lu aux appelants <textarea name='text' required maxlength='400' rows='3'></textarea></label>"
            "<label>Début <input name='starts_at' value='now' aria-describedby='when'></label>"
            "<label>Fin (facultatif) <input name='ends_at' aria-describedby='when'></label>"
            "<label><input type='checkbox' name='closes' value='1'> La ligne est fermée</label>"
            "<label>Votre nom (si vous n'êtes pas connecté) <input name='by' maxlength='64'></label>"
            "<p id='when'>now, +30m, +2h, 14:30 ou 2026-12-24T12:00 (heure de Paris)</p>"
            "<button>Mettre en service</button></form>"
            "<h2>Annonces</h2>" +
            table(["N°", "Texte", "État", "Début", "Fin", "Ligne fermée", "Mise en service", ""], rows,
                  empty="aucune annonce"))
    return layout("Annonces", body, brand=brand, active="/notices", banners=banners(kpis, None, None))


def not_found_page(what: str, brand: str = BRAND) -> str:
    """A page for what is not there (a 404)."""
    return layout("Introuvable", f"<p>{e(what)}</p><p><a href='/'>Retour à la vue d'ensemble</a></p>", brand=brand, active="")
