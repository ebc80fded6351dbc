"""Node kinds: one module per kind (its YAML model, its edges, prompts, variables, checks and what it does
on a call). Which kinds a flow may use is :mod:`ivr.engine.kinds`' list."""
