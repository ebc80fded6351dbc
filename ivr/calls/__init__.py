"""Call lifecycle: the per-call context, outcomes, call records and the session handler."""

from .call import Call, Flow, FlowResolver
from .handler import CallHandler
from .outcomes import QUEUES, Outcome
from .record import CallRecord, JsonlRecordStore, MemoryRecordStore

__all__ = [
    "Call",
    "CallHandler",
    "CallRecord",
    "Flow",
    "FlowResolver",
    "JsonlRecordStore",
    "MemoryRecordStore",
    "Outcome",
    "QUEUES",
]
