# The IVR image: `ivr serve`, the tracking stub and the SIP tester all run from it.
FROM python:3.11-slim-bookworm

ARG FETCH_MODEL=false
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    IVR_LOG_FORMAT=json \
    IVR_VOSK_MODEL=/opt/models/vosk-model-small-fr-0.22

# Folders shared with the Asterisk container through named volumes (they start as these folders):
# readbacks the IVR renders (they speak personal data) are readable by group 3400 only, which the
# Asterisk container joins (group_add in docker-compose.yml): 0640 files in a setgid 2750 folder;
# recordings Asterisk writes and the IVR reads and deletes, whatever user each container runs as
# (0777, on a volume only these two mount).
RUN groupadd --system --gid 3400 ivr && useradd --system --gid ivr --home /app --shell /usr/sbin/nologin ivr \
    && mkdir -p /app /opt/models /var/spool/ivr /var/lib/ivr /var/cache/ivr-prompts \
    && chown -R ivr:ivr /app /opt/models /var/spool/ivr /var/lib/ivr /var/cache/ivr-prompts \
    && chmod 2750 /var/cache/ivr-prompts && chmod 0777 /var/spool/ivr

# Graphviz lays out the flow drawings of the admin console (`dot`); the IVR falls back to a plain
# drawing without it.
RUN apt-get update && apt-get install -y --no-install-recommends graphviz && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The locked versions, each file checked against its hash (requirements/runtime.lock; README "Dependencies").
COPY requirements/runtime.lock ./requirements/runtime.lock
RUN pip install --no-compile --require-hashes -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY ivr ./ivr
COPY agi_scripts ./agi_scripts
RUN pip install --no-compile --no-deps --no-build-isolation . \
    && if [ "$FETCH_MODEL" = "true" ]; then ivr model fetch --dir /opt/models; fi \
    && chown -R ivr:ivr /opt/models

USER ivr
# Prompts are played by Asterisk by absolute path: /app/ivr/prompts (catalog) and /var/cache/ivr-prompts
# (readbacks rendered during calls) are mounted at the same paths in the Asterisk container.
ENV IVR_PROMPTS_DIR=/app/ivr/prompts \
    IVR_DYNAMIC_PROMPTS_DIR=/var/cache/ivr-prompts \
    IVR_RECORDS=/var/lib/ivr/calls.jsonl \
    IVR_STORE=/var/lib/ivr/ivr.sqlite \
    IVR_ACCEPTED_DIR=/var/lib/ivr/accepted
EXPOSE 4573 9092 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD python -c "import socket; socket.create_connection(('127.0.0.1', 4573), 2).close()" || exit 1
CMD ["ivr", "serve", "--host", "0.0.0.0"]
