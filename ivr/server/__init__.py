"""The composition root: builds the IVR from its parts for ``ivr serve``, ``ivr demo``, the tests
(``embedded``) and classic AGI (``classic``). The only package that knows every other one."""
