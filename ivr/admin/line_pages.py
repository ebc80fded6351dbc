"""The console's pages for administrators: signing in, the versions and what each changed, the draft
(edit or upload, check, publish) and the audit trail. No I/O: data in, a page out; everything shown is
escaped (``pages.e``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from ..versions.diff import Change
from ..versions.model import AuditEntry, LineVersion
from .pages import BRAND, Html, e, layout, markup, table

__all__ = ["login_page", "versions_page", "version_page", "draft_page", "audit_page", "forbidden_page",
           "preview_section"]

_PARIS = ZoneInfo("Europe/Paris")
_ACTIONS = {"publish": "publication", "publish_rejected": "publication refusée", "rollback": "retour arrière",
            "rollback_rejected": "retour arrière refusé", "applied": "version en service sur le nœud",
            "applied_rejected": "version refusée par le nœud", "reload": "rechargement",
            "reload_rejected": "rechargement refusé", "preview": "aperçu", "sign_in": "connexion",
            "sign_in_failed": "connexion refusée", "sign_out": "déconnexion", "notice_on": "annonce en service",
            "notice_off": "annonce arrêtée", "user_changed": "utilisateur modifié",
            "forbidden": "action refusée (rôle)"}


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, _PARIS).strftime("%d/%m/%Y %H:%M:%S")


def login_page(*, next_path: str = "/", error: str = "", brand: str = BRAND) -> str:
    """The sign-in form (the only page shown to someone not signed in)."""
    body = ((f"<p class='errors' role='alert'>{e(error)}</p>" if error else "") +
            "<form method='post' action='/login' class='login'>"
            f"<input type='hidden' name='next' value='{e(next_path)}'>"
            "<label>Identifiant <input name='name' autocomplete='username' required maxlength='32' autofocus></label>"
            "<label>Mot de passe <input name='password' type='password' autocomplete='current-password' required "
            "maxlength='256'></label><button>Se connecter</button></form>"
            "<p>Après plusieurs échecs, le compte est verrouillé un moment. Les comptes sont gérés par "
            "<code>ivr users</code>.</p>")
    return layout("Connexion", body, brand=brand, active="")


def forbidden_page(role: str, needed: str, brand: str = BRAND) -> str:
    """What a user whose role does not allow an action sees."""
    return layout("Action non permise", f"<p>Votre rôle ({e(role)}) ne permet pas cette action : il faut le rôle "
                  f"{e(needed)}.</p><p><a href='/versions'>Retour aux versions</a></p>", brand=brand, active="")


def _changes(changes: Sequence[Change]) -> str:
    return table(["Fichier", "Élément", "Champ", "Avant", "Après"],
                 [[c.file, c.part or "(le fichier)", c.field, "—" if c.before is None else c.before,
                   "—" if c.after is None else c.after] for c in changes],
                 empty="aucune différence", attrs=" class='diff'")


def versions_page(versions: Sequence[LineVersion], *, serving: Mapping[str, Any], may_publish: bool,
                  error: str = "", brand: str = BRAND) -> str:
    """The published versions, the live one first, each with a link to what it changed and (for a
    publisher) a button to make it live again."""
    def again(v: LineVersion, live: bool) -> Html:
        if live or not may_publish:
            return markup("")
        return markup(f"<form method='post' action='/versions/{v.number}/rollback'>"
                      f"<button>Remettre en service</button></form>")
    rows = [[markup(f"<a href='/versions/{v.number}'>{v.number}</a>"),
             "en service" if i == 0 else "", v.hash, _when(v.created_at), v.author, v.comment,
             f"version {v.restores}" if v.restores else "", again(v, i == 0)] for i, v in enumerate(versions)]
    state = (f"Ce nœud sert la version {serving['published']}." if serving.get("published") else
             "Aucune version publiée : les nœuds servent les fichiers sur disque. La première publication fait "
             "de la version en service la seule référence.")
    body = ((f"<p class='errors' role='alert'>{e(error)}</p>" if error else "") + f"<p>{e(state)}</p>" +
            table(["N°", "", "Empreinte", "Publiée le", "Par", "Commentaire", "Reprend", ""], rows,
                  empty="aucune version publiée") +
            "<p><a href='/drafts'>Préparer une nouvelle version</a></p>")
    return layout("Versions", body, brand=brand, active="/versions")


def version_page(version: LineVersion, changes: Sequence[Change], previous: int | None, brand: str = BRAND) -> str:
    """One version: who, when, why, its files, and what it changed from the one before."""
    files = "".join(f"<li><a href='/versions/{version.number}/files/{quote(name)}'>{e(name)}</a></li>"
                    for name in sorted(version.texts))
    since = f"Changements depuis la version {previous}" if previous else "Première version"
    body = (f"<p>Publiée le {e(_when(version.created_at))} par {e(version.author)} : {e(version.comment)}"
            + (f" (reprend la version {version.restores})" if version.restores else "") +
            f" · empreinte <code>{e(version.hash)}</code></p><h2>Fichiers</h2><ul>{files}</ul>"
            f"<h2>{e(since)}</h2>" + _changes(changes))
    return layout(f"Version {version.number}", body, brand=brand, active="/versions")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")


def _ending(ending: Mapping[str, Any] | None) -> str:
    if not ending:
        return "—"
    return str(ending["outcome"]) + (f" ({ending['reason']})" if ending.get("reason") else "")


def preview_section(report: Mapping[str, Any]) -> str:
    """What replaying the recorded calls through the draft showed: the totals that move, each call that
    would end otherwise, each call whose answers do not fit the draft."""
    containment = report["containment"]
    totals = table(["Appels rejoués", "Ne correspondent pas", "Finiraient autrement", "Autonomie avant",
                    "Autonomie après", "Appels rejoués par seconde"],
                   [[report["replayed"], report["unfit"], report["changed"], _pct(containment["before"]),
                     _pct(containment["after"]), f"{report['per_second']:.0f}"]])
    moved = table(["File / motif", "Avant", "Après"],
                  [[key, counts["before"], counts["after"]] for key, counts in report["transfers"].items()],
                  empty="aucun transfert ne change")
    changes = table(["Appel", "Le", "Avant", "Avec le brouillon"],
                    [[markup(f"<a href='/calls/{quote(c['call_id'])}'>{e(c['call_id'])}</a>"), c["started_at"][:16],
                      _ending(c["before"]), _ending(c["after"])] for c in report["changes"][:200]],
                    empty="aucun appel ne finirait autrement")
    unfit = table(["Appel", "Le", "Pourquoi"],
                  [[c["call_id"], c["started_at"][:16], c["unfit"]] for c in report["unfit_calls"][:200]],
                  empty="tous les appels correspondent au brouillon")
    return (f"<h2>Aperçu sur {e(report['calls'])} appels enregistrés</h2>" + totals +
            "<h3>Transferts qui changent</h3>" + moved + "<h3>Appels qui finiraient autrement</h3>" + changes +
            "<h3>Appels dont les réponses ne correspondent pas au brouillon</h3>" + unfit)


def draft_page(*, files: Sequence[str], chosen: str, text: str, errors: Sequence[str] = (),
               warnings: Sequence[str] = (), changes: Sequence[Change] | None = None, checked: bool = False,
               may_publish: bool, report: Mapping[str, Any] | None = None, calls: int = 500,
               brand: str = BRAND) -> str:
    """The draft: one file of the live configuration edited in place (or uploaded), checked as a publish
    would check it (errors as file:line), what it changes, and publishing it (a publisher)."""
    options = "".join(f"<option value='{e(f)}'{' selected' if f == chosen else ''}>{e(f)}</option>" for f in files)
    result = ""
    if errors:
        result = ("<h2>Erreurs</h2><p>Le brouillon ne peut pas être publié tant qu'elles restent :</p><ul class='errors'>"
                  + "".join(f"<li><code>{e(err)}</code></li>" for err in errors) + "</ul>")
    elif checked:
        result = "<p class='ok' role='status'>Le brouillon est valide : il peut être publié.</p>"
    if warnings:
        result += "<h2>À vérifier</h2><ul class='warnings'>" + "".join(f"<li><code>{e(w)}</code></li>" for w in warnings) + "</ul>"
    if changes is not None:
        result += "<h2>Ce que le brouillon change</h2>" + _changes(changes)
    if report is not None:
        result += preview_section(report)
    publish = ("<label>Commentaire pour la publication (ce qui change et pourquoi) "
               "<input name='comment' maxlength='500'></label>"
               "<button name='action' value='publish'>Publier</button>" if may_publish else
               "<p>La publication demande le rôle publisher.</p>")
    body = ("<p>Le brouillon part de la version en service : modifiez un fichier ici, ou envoyez-en un, puis "
            "vérifiez-le. Les appels en cours finissent sur leur version.</p>" + result +
            "<form method='post' action='/drafts' class='draft'>"
            f"<label>Fichier <select name='file'>{options}</select></label>"
            f"<label>Contenu <textarea name='text' rows='30' spellcheck='false'>{e(text)}</textarea></label>"
            "<button name='action' value='open'>Ouvrir ce fichier</button>"
            "<button name='action' value='check'>Vérifier</button>"
            f"<label>Derniers appels à rejouer <input name='calls' type='number' min='1' max='5000' value='{int(calls)}'>"
            "</label><button name='action' value='preview'>Aperçu sur les appels enregistrés</button>" + publish + "</form>"
            "<form method='post' action='/drafts' enctype='multipart/form-data' class='upload'>"
            "<label>Envoyer un fichier (.yaml) <input type='file' name='upload' accept='.yaml,.yml'></label>"
            "<button name='action' value='upload'>Envoyer et vérifier</button></form>")
    return layout("Brouillon", body, brand=brand, active="/drafts")


def audit_page(entries: Sequence[AuditEntry], *, before: int | None, brand: str = BRAND) -> str:
    """The audit trail, newest first, a page at a time, with its exports."""
    rows = [[entry.id, _when(entry.at), entry.actor, _ACTIONS.get(entry.action, entry.action), entry.target,
             entry.origin, ", ".join(f"{k} = {v}" for k, v in entry.detail.items())[:300]] for entry in entries]
    more = (f"<p><a href='/audit?before={entries[-1].id}'>Plus anciens</a></p>" if entries and len(entries) >= 100
            else "")
    body = ("<p>Qui a fait quoi, quand et d'où : publications, retours arrière, rechargements, annonces, "
            "connexions. Le journal ne fait que s'allonger. Exporter : <a href='/audit?format=csv'>CSV</a> · "
            "<a href='/audit?format=json'>JSON</a></p>" +
            table(["N°", "Quand (Paris)", "Qui", "Quoi", "Sur", "D'où", "Détail"], rows, empty="journal vide") + more)
    return layout("Journal", body, brand=brand, active="/audit")
