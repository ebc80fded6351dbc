"""``notice``: the closure notice an administrator switched on (``ivr notice on``, the console, the API),
played to every caller where the flow puts this node (after the welcome); the call goes on at ``next``,
or at ``closed`` when the notice closes the line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from typing_extensions import override

from ...playback import play_until_key
from .base import Defaults, Edge, Label, NodeBase

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["NoticeNode"]


class NoticeNode(NodeBase):
    """Play the live closure notice, if any; where to go then."""

    kind: Literal["notice"]
    #: Where the call goes with no notice, or after one that leaves the line open.
    next: str
    #: Where it goes after a notice that closes the line (a hang-up that says goodbye).
    closed: str

    @override
    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(Label.NEXT, self.next, ("next",)), Edge(Label.CLOSED, self.closed, ("closed",))]

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        notice = runner.services.notice(call.now)
        if notice is None:
            return self.next
        try:
            path = await runner.services.spoken.playback_path(notice.text, slow=call.slow)
        except Exception as exc:  # no voice to render it with: the call goes on (it must not fail every call)
            call.log.error("notice_unrendered", notice=notice.id, error=type(exc).__name__)
            return self.closed if notice.closes else self.next
        key = await play_until_key(call.channel, [path], barge_in=not notice.closes)
        if key:
            call.typed_ahead = key
        call.variables["notice"] = notice.id
        call.record.notice = {"id": notice.id, "closes": notice.closes}
        call.log.info("notice_played", notice=notice.id, closes=notice.closes)
        return self.closed if notice.closes else self.next
