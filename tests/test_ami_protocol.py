"""The AMI codec (no I/O) against a real Asterisk's manager conversation, byte by byte."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.edges.ami.protocol import AmiProtocolError, MessageReader, encode_message
from tests.conftest import load_capture


def _stream(direction: str) -> bytes:
    """What one side sent over the capture's second connection (the successful login onwards)."""
    lines = load_capture("commands", "ami.jsonl")
    start = next(i for i, e in enumerate(lines) if e["data"] == "connection 2")
    return "".join(e["data"] for e in lines[start:] if e["dir"] == direction).encode()


def test_reads_asterisks_side_of_a_real_conversation_whatever_the_read_sizes():
    data = _stream("asterisk->client")
    whole = MessageReader(banner=True)
    messages = whole.feed(data)
    assert whole.banner == "Asterisk Call Manager/13.0.0"
    assert messages[0].get("Response") == "Success" and messages[1].get("Event") == "FullyBooted"
    summary = [m for m in messages if m.get("Event") == "QueueSummary"]
    assert [m.get("Queue") for m in summary] == ["contractor", "inhouse"]
    assert summary[0].get("loggedin") == "1"  # keys are case-insensitive, as in Asterisk
    # Cut into 7-byte reads, the same messages come out.
    pieces = MessageReader(banner=True)
    again = [m for i in range(0, len(data), 7) for m in pieces.feed(data[i:i + 7])]
    assert again == messages


def test_reads_the_clients_actions_and_repeated_keys():
    actions = MessageReader().feed(_stream("client->asterisk"))
    assert actions[0].get("Action") == "Login" and actions[0].get("Secret") == "ivrsecret"
    originate = next(m for m in actions if m.get("Action") == "Originate")
    assert originate.get("Channel") == "Local/s@caller" and originate.get("Async") == "true"
    [repeated] = MessageReader().feed(b"Action: Originate\r\nVariable: A=1\r\nvariable: B=2\r\n\r\n")
    assert repeated.all("Variable") == ["A=1", "B=2"] and repeated.get("variable") == "A=1"


def test_encoding_round_trips_and_refuses_line_breaks():
    fields = [("Action", "Originate"), ("Variable", "IVR_QUEUE=inhouse"), ("Variable", "IVR_REASON=callback")]
    wire = encode_message(fields)
    assert wire == b"Action: Originate\r\nVariable: IVR_QUEUE=inhouse\r\nVariable: IVR_REASON=callback\r\n\r\n"
    [message] = MessageReader().feed(wire)
    assert message.fields == tuple(fields)
    with pytest.raises(ValueError):
        encode_message([("Channel", "Local/0612@x\r\nAction: Originate")])  # an injected second action


def test_an_endless_line_or_message_is_an_error_not_a_memory_leak():
    reader = MessageReader(max_line=100)
    with pytest.raises(AmiProtocolError, match="longer than 100"):
        for _ in range(10):
            reader.feed(b"X" * 50)
    many = MessageReader(max_fields=5)
    with pytest.raises(AmiProtocolError, match="more than 5 fields"):
        many.feed(b"".join(b"Key%d: v\r\n" % i for i in range(6)))
    with pytest.raises(AmiProtocolError, match="not an AMI field"):
        MessageReader().feed(b"garbage without colon\r\n")


@given(st.binary(max_size=400), st.integers(min_value=1, max_value=50))
def test_any_bytes_give_messages_or_a_protocol_error(data, step):
    reader = MessageReader(banner=True, max_line=64, max_fields=8)
    try:
        for i in range(0, len(data), step):
            for message in reader.feed(data[i:i + step]):
                assert message.fields
    except AmiProtocolError:
        pass
