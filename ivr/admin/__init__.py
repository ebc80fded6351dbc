"""Operations: admin HTTP (health, readiness, metrics, live calls, flows, KPIs)."""
