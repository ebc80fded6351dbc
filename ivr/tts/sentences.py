"""Every sentence the IVR builds at run time, in French: digits read back, dates, durations, waits,
the callback confirmation. (Fixed sentences are prompts in ``ivr/prompts/catalog.yaml``.)"""

from __future__ import annotations

from datetime import date, datetime

__all__ = ["say_digits_text", "say_date_text", "say_days_text", "say_wait_text", "callback_confirmation", "kept_turn_offer",
           "MONTHS"]

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
          "septembre", "octobre", "novembre", "décembre")


def say_digits_text(digits: str, group: int = 2) -> str:
    """Digits spoken one by one, grouped with pauses: ``"06 12"`` → ``"0, 6. 1, 2"``.

    One digit at a time is what a caller checks against a paper receipt;
    the grouping gives the synthesiser a pause every ``group`` digits.
    """
    clean = [d for d in digits if d.isdigit()]
    groups = [" ".join(clean[i:i + group]) for i in range(0, len(clean), group)]
    return ", ".join(groups)


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def say_date_text(value: date | datetime | str, today: date | None = None) -> str:
    """``"le 3 décembre"`` (with the year when it is not the current one); "le 1er" for the first."""
    d = _as_date(value)
    day = "1er" if d.day == 1 else str(d.day)
    text = f"le {day} {MONTHS[d.month - 1]}"
    if today is not None and d.year != today.year:
        text += f" {d.year}"
    return text


def say_days_text(days: int) -> str:
    """A remaining time in days, as a caller would say it."""
    if days <= 0:
        return "aujourd'hui"
    if days == 1:
        return "demain"
    if days < 14:
        return f"dans {days} jours"
    weeks = round(days / 7)
    return f"dans environ {weeks} semaines"


def say_wait_text(seconds: int) -> str:
    """The estimated wait, rounded the way a person would say it."""
    if seconds < 90:
        return "Le temps d'attente est estimé à environ une minute."
    minutes = round(seconds / 60)
    if minutes >= 60:
        return "Le temps d'attente est actuellement de plus d'une heure."
    if minutes > 10:
        minutes = 5 * round(minutes / 5)
    return f"Le temps d'attente est estimé à environ {minutes} minutes."


def kept_turn_offer(number: str) -> str:
    """What a caller who pressed 1 in the queue hears: the end of the number they would be called on, and
    the choice between a callback that keeps their place and staying on the line."""
    ending = " ".join([d for d in number if d.isdigit()][-3:])
    return (f"Nous pouvons vous rappeler au numéro se terminant par {ending} quand votre tour viendra : vous "
            f"gardez votre place dans la file d'attente. Pour être rappelé, tapez 1. Pour rester en ligne, "
            f"tapez 2.")


def callback_confirmation(number: str) -> str:
    """What a caller hears once their callback is booked: the end of the number they will be called on."""
    ending = " ".join([d for d in number if d.isdigit()][-3:])  # the last three digits, said one by one
    return (f"C'est noté. Un conseiller vous rappellera au numéro se terminant par {ending}, "
            f"dès que possible. Merci de votre appel, au revoir.")
