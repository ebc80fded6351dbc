"""The closure-notice switch of an embedded server, for runs of the bundled scenarios (one of them asks
for a notice: `ivr/sim/scenarios/10-notice-closed.yaml`)."""

from __future__ import annotations

from ivr.server.app import IvrServer
from ivr.sim.notices import AdminNotices


def notices_of(srv: IvrServer) -> AdminNotices:
    """Switches notices on and off through ``srv``'s admin API, with its token."""
    assert srv.admin_url is not None, "the embedded server runs its console"
    return AdminNotices(srv.admin_url, srv.settings.admin_token.get_secret_value())
