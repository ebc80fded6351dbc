"""Prometheus metrics, fed from each finished call's record (one place, no counters sprinkled in the engine)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

from ..calls.outcomes import Outcome
from ..calls.record import CallRecord
from .kpis import offered

__all__ = ["Metrics"]


class Metrics:
    """One registry per server (tests run several servers in one process)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self._calls(r)
        self._recognition(r)
        self._back_ends(r)
        self._line(r)

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
