"""Call-centre KPIs over finished calls: containment, recognition success, transfers, abandon points."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict

from ..calls.record import CallRecord

__all__ = ["Kpis"]


class Kpis:
    """Aggregates call records as they are written (implements the record store interface)."""

    def __init__(self, keep_recent: int = 200) -> None:
        self.total = 0
        self.outcomes: Counter[str] = Counter()
        self.transfers: Counter[tuple[str, str]] = Counter()  # (queue, reason)
        self.abandon_points: Counter[str] = Counter()
        self.questions = Counter()  # speech/dtmf answers, failures
        self.recent: deque[dict] = deque(maxlen=keep_recent)

    def write(self, record: CallRecord) -> None:
        self.total += 1
        self.outcomes[record.outcome] += 1
        if record.outcome.startswith("routed:") or record.outcome == "error_routed":
            self.transfers[(record.queue or "-", record.reason or "-")] += 1
        if record.outcome == "caller_hangup":
            self.abandon_points[record.hangup_node or "-"] += 1
        for entry in record.recognition:
            mode = entry.get("mode", "none")
            self.questions[f"{mode}_answered" if mode != "none" else "unanswered"] += 1
            self.questions["nomatch"] += entry.get("nomatch", 0)
            self.questions["noinput"] += entry.get("noinput", 0)
        self.recent.append(asdict(record))

    def close(self) -> None:
        pass

    def load_jsonl(self, path, *, max_bytes: int = 64 << 20) -> int:
        """Rebuild from a call-records file (its last ``max_bytes``), so a restart keeps the figures."""
        import json
        from pathlib import Path

        path = Path(path)
        if not path.exists():
            return 0
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size > max_bytes:
                f.seek(size - max_bytes)
                f.readline()  # skip the partial first line
            data = f.read().decode("utf-8", errors="replace")
        fields = set(CallRecord.__dataclass_fields__)
        count = 0
        for line in data.splitlines():
            try:
                raw = json.loads(line)
                self.write(CallRecord(**{k: v for k, v in raw.items() if k in fields}))
                count += 1
            except (ValueError, TypeError):
                continue  # a damaged line does not stop the dashboard
        return count

    def summary(self) -> dict:
        answered = self.questions["speech_answered"] + self.questions["dtmf_answered"]
        asked = answered + self.questions["unanswered"]
        speech_tries = self.questions["speech_answered"] + self.questions["nomatch"]
        return {
            "calls": self.total,
            "containment": round(self.outcomes["self_served"] / self.total, 4) if self.total else None,
            "outcomes": dict(self.outcomes),
            "questions_answered": round(answered / asked, 4) if asked else None,
            "recognition_success": round(self.questions["speech_answered"] / speech_tries, 4) if speech_tries else None,
            "answers_by_mode": {"speech": self.questions["speech_answered"], "dtmf": self.questions["dtmf_answered"]},
            "noinput": self.questions["noinput"],
            "nomatch": self.questions["nomatch"],
            "transfers": [{"queue": q, "reason": r, "calls": n} for (q, r), n in self.transfers.most_common()],
            "abandon_points": dict(self.abandon_points.most_common()),
        }
