"""Prometheus metrics, fed from each finished call's record (one place, no counters sprinkled in the engine)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

from ..calls.outcomes import Outcome
from ..calls.record import CallRecord
from .kpis import UNSAID, offered, segment_counts, segment_of
from .queue_kpis import DEFAULT_SERVICE_LEVEL, QUEUE_RESULTS, result_of

__all__ = ["Metrics"]


class Metrics:
    """One registry per server (tests run several servers in one process)."""

    def __init__(self, *, segment: str | None = None, service_level_s: int = DEFAULT_SERVICE_LEVEL) -> None:
        r = self.registry = CollectorRegistry()
        #: The slot whose answer splits containment and satisfaction (the line profile's ``segment``).
        self.segment = segment
        self.service_level_s = service_level_s
        self._once_set: set[str] = set()
        self._calls(r)
        self._recognition(r)
        self._back_ends(r)
        self._line(r)
        self._after_ivr(r)

    def _after_ivr(self, r: CollectorRegistry) -> None:
        """Satisfaction and containment per segment; the queues after the IVR (journeys this node followed)."""
        self.segment_offered = Counter("ivr_segment_offered_total", "Offered calls, by the line's segment (title "
                                       "type; - when not said)", ["segment"], registry=r)
        self.segment_served = Counter("ivr_segment_self_served_total", "Self-served calls, by segment", ["segment"],
                                      registry=r)
        self.rating_asked = Counter("ivr_satisfaction_asked_total", "Calls asked for a 1-5 rating, by segment",
                                    ["segment"], registry=r)
        self.ratings = Counter("ivr_satisfaction_ratings_total", "Ratings given, by segment and rating",
                               ["segment", "rating"], registry=r)
        self.queue_calls = Counter("ivr_queue_calls_total", "Calls handed to a queue whose journey ended, by result "
                                   "(answered in time: within the service level)", ["queue", "result"], registry=r)
        self.once_and_done = Gauge("ivr_once_and_done_ratio", "Share of the callers (kind=caller) and files (kind=file) "
                                   "of the last 7 days' calls, judged after the follow-up days, who did not call "
                                   "again (NaN: no call to judge)", ["kind"], registry=r)
        self.queue_answer_wait = Histogram("ivr_queue_answer_wait_seconds", "Wait of the calls an agent answered",
                                           ["queue"], buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1800), registry=r)

    def prime(self, *, flows: Mapping[str, Iterable[str]], queues: Iterable[str], segments: Iterable[str]) -> None:
        """Create every labelled series the dashboard and the alerts read, at 0, before any call: a fresh
        server shows 0, not « no data », and an alert on a missing series does not misfire."""
        queues = list(queues)
        for outcome in Outcome:
            for text in ([Outcome.ROUTED.text(q) for q in queues] if outcome is Outcome.ROUTED else [outcome.text()]):
                self.calls.labels(text)
        for flow, nodes in flows.items():
            for node in nodes:
                for family in (self.visits, self.hangups, self.transfers):
                    family.labels(flow, node)
                self.noinput.labels(node)
                self.nomatch.labels(node)
        for mode in ("speech", "dtmf", "none"):
            self.answers.labels(mode)
        for segment in [*segments, UNSAID]:
            for family in (self.segment_offered, self.segment_served, self.rating_asked):
                family.labels(segment)
            for rating in "12345":
                self.ratings.labels(segment, rating)
        for kind in ("caller", "file"):
            if kind not in self._once_set:
                self.once_and_done.labels(kind).set(float("nan"))
        for queue in queues:
            for result in QUEUE_RESULTS:
                self.queue_calls.labels(queue, result)
            self.queue_answer_wait.labels(queue)

    def once_and_done_now(self, shares: Mapping[str, float | None]) -> None:
        """The last « once and done » shares by kind (None: no call to judge)."""
        for kind, share in shares.items():
            self.once_and_done.labels(kind).set(float("nan") if share is None else share)
            self._once_set.add(kind)

    def journey_ended(self, journey: Mapping[str, Any]) -> None:
        """Count a journey in the queues that ended (this node followed it: no other node counts it)."""
        result = result_of(journey, self.service_level_s)
        if result is None:
            return
        queue = str(journey.get("queue") or "-")
        self.queue_calls.labels(queue, result).inc()
        if result.startswith("answered"):
            self.queue_answer_wait.labels(queue).observe(int(journey.get("waited_s") or 0))

    def _calls(self, r: CollectorRegistry) -> None:
        """Calls, and the per-node funnel."""
        self.calls = Counter("ivr_calls_total", "Calls ended, by outcome", ["outcome"], registry=r)
        # The KPIs' denominator (ivr.admin.kpis): containment = self_served / offered, in Grafana too.
        self.offered = Counter("ivr_calls_offered_total", "Calls offered to the IVR (not closed, not a hang-up "
                               "during the welcome)", registry=r)
        self.active = Gauge("ivr_calls_active", "Calls in progress", registry=r)
        # The per-node funnel: calls that reached a node, silences and misunderstandings there,
        # callers who hung up there, calls handed to an agent from there.
        self.visits = Counter("ivr_node_visits_total", "Calls that reached the node", ["flow", "node"], registry=r)
        self.noinput = Counter("ivr_noinput_total", "Questions with no input", ["node"], registry=r)
        self.nomatch = Counter("ivr_nomatch_total", "Answers not understood", ["node"], registry=r)
        self.hangups = Counter("ivr_node_hangups_total", "Callers who hung up at the node", ["flow", "node"],
                               registry=r)
        self.transfers = Counter("ivr_node_transfers_total", "Calls handed to an agent from the node",
                                 ["flow", "node"], registry=r)

    def _recognition(self, r: CollectorRegistry) -> None:
        """How callers answered, and how well speech was understood."""
        self.answers = Counter("ivr_answers_total", "Questions answered, by input mode", ["mode"], registry=r)
        self.speech_turns = Counter("ivr_speech_turns_total", "Turns where the caller spoke", registry=r)
        self.speech_understood = Counter("ivr_speech_understood_total",
                                         "Speech turns that ended the question with an accepted answer", registry=r)
        self.confidence = Histogram("ivr_recognition_confidence", "Speech recognition confidence",
                                    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0), registry=r)
        self.recognition = Histogram("ivr_recognition_seconds", "End of speech to result",
                                     buckets=(0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 3, 5), registry=r)

    def _back_ends(self, r: CollectorRegistry) -> None:
        """The tracking service, Asterisk (AGI, AMI) and the shared store."""
        self.tracking = Histogram("ivr_tracking_seconds", "Tracking lookups", ["status"],
                                  buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8), registry=r)
        self.tracking_errors = Counter("ivr_tracking_errors_total", "Tracking lookups that failed", registry=r)
        self.agi = Histogram("ivr_agi_command_seconds", "AGI command round trip (write to final reply)",
                             buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1, 10, 60), registry=r)
        self.ami_configured = Gauge("ivr_ami_configured", "1 when an AMI account is configured", registry=r)
        self.ami_connected = Gauge("ivr_ami_connected", "1 when the AMI controller is logged in", registry=r)
        self.ami_events_refused = Gauge("ivr_ami_events_refused", "AMI events refused since start: not what "
                                        "Asterisk writes (a forged caller field)", registry=r)
        self.tracking_up = Gauge("ivr_tracking_up", "1 when the tracking service answered its last health probe",
                                 registry=r)
        self.tracking_circuit_open = Gauge("ivr_tracking_circuit_open",
                                           "1 while the tracking circuit breaker is open", registry=r)
        # Several nodes (a PostgreSQL store): records waiting for the database, and those dropped.
        self.store_up = Gauge("ivr_store_up", "1 when the shared store took the last records", registry=r)
        self.store_circuit_open = Gauge("ivr_store_circuit_open", "1 while calls do not ask the store (it failed "
                                        "or was too slow repeatedly)", registry=r)
        self.dialler_stalled = Gauge("ivr_dialler_stalled", "1 while the callbacks dialler's lock is held by a session "
                                     "that does not dial", registry=r)
        self.records_queued = Gauge("ivr_records_queued", "Call records waiting for the shared store", registry=r)
        self.records_dropped = Gauge("ivr_records_dropped", "Call records dropped from a full queue (still in the "
                                     "node's records file)", registry=r)

    def _line(self, r: CollectorRegistry) -> None:
        """What the line serves: speech, opening hours, queues, reloads."""
        self.speech_enabled = Gauge("ivr_speech_enabled", "1 when speech recognition is configured (IVR_SPEECH)",
                                    registry=r)
        self.speech_model_loaded = Gauge("ivr_speech_model_loaded", "1 when the Vosk model is loaded", registry=r)
        self.speech_lag = Gauge("ivr_speech_decoding_lag_seconds", "How long the oldest audio waiting for the "
                                "recogniser has waited", registry=r)
        self.speech_busy = Gauge("ivr_speech_busy", "1 while decoding runs late: new questions are offered the "
                                 "keypad", registry=r)
        self.speech_keypad_offered = Gauge("ivr_speech_keypad_offered", "Questions offered the keypad because "
                                           "decoding ran late, since the node started", registry=r)
        self.line_open = Gauge("ivr_line_open", "1 while the flow's opening hours say open", ["flow"], registry=r)
        self.queue_wait = Gauge("ivr_queue_expected_wait_seconds", "Expected wait per queue (AMI)", ["queue"],
                                registry=r)
        self.queue_callers = Gauge("ivr_queue_callers", "Callers waiting per queue (AMI)", ["queue"], registry=r)
        self.queue_available = Gauge("ivr_queue_agents_available", "Free agents per queue (AMI)", ["queue"],
                                     registry=r)
        self.flow_reloads = Counter("ivr_flow_reloads_total", "Flow reloads, by result", ["result"], registry=r)

    def call_ended(self, record: CallRecord, agi_latencies: list[float]) -> None:
        """Count an ended call in the Prometheus metrics."""
        self.calls.labels(record.outcome).inc()
        if offered(record):
            self.offered.inc()
            # The same counts as the indicators' (one definition of offered, served, asked, rated).
            counts, segment = segment_counts(record), segment_of(record, self.segment)
            self.segment_offered.labels(segment).inc()
            self.segment_served.labels(segment).inc(counts["self_served"])
            self.rating_asked.labels(segment).inc(counts["rating_asked"])
            if counts["rated"]:
                self.ratings.labels(segment, str(counts["rating_sum"])).inc()
        flow = record.flow or "-"
        for node in dict.fromkeys(record.path):
            self.visits.labels(flow, node).inc()
        outcome = Outcome.of(record.outcome)
        if outcome is Outcome.CALLER_HANGUP:
            self.hangups.labels(flow, record.hangup_node or (record.path[-1] if record.path else "-")).inc()
        elif outcome is not None and outcome.to_agent and record.path:
            self.transfers.labels(flow, record.path[-1]).inc()
        for entry in record.recognition:
            node = str(entry.get("node", "-")).split(".")[0]  # a sub-question counts with its node
            self.speech_turns.inc(entry.get("speech", 0))
            self.speech_understood.inc(entry.get("speech_ok", 0))
            if entry.get("noinput"):
                self.noinput.labels(node).inc(entry["noinput"])
            if entry.get("nomatch"):
                self.nomatch.labels(node).inc(entry["nomatch"])
            self.answers.labels(entry.get("mode", "none")).inc()
            if entry.get("confidence") is not None:
                self.confidence.observe(entry["confidence"])
            if entry.get("ms") is not None:
                self.recognition.observe(entry["ms"] / 1000)
        for lookup in record.lookups:
            self.tracking.labels(lookup.get("status", "error")).observe(lookup.get("ms", 0) / 1000)
            if lookup.get("status") in ("error", "timeout"):
                self.tracking_errors.inc()
        for seconds in agi_latencies:
            self.agi.observe(seconds)

    def count_from(self, name: str, documentation: str, label: str, source: Callable[[], Mapping[str, int]]) -> None:
        """Export counts another part keeps (``source()`` at each scrape) as a labelled counter."""

        class _Counts:
            def collect(self) -> Iterator[CounterMetricFamily]:
                family = CounterMetricFamily(name, documentation, labels=[label])
                for value, count in sorted(source().items()):
                    family.add_metric([value], count)
                yield family

        self.registry.register(_Counts())

    def render(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)
