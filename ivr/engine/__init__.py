"""The flow engine: the typed model of a flow, its validator (every error at once, as file:line), the
interpreter that walks nodes (questions, lookups and hand-offs in modules of their own), the hot-reload
registry and the drawings. It knows no telephony and no hotline: both come in through
:mod:`ivr.interfaces` and :class:`ivr.engine.services.EngineServices`."""
