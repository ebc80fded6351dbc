# The IVR image: `ivr serve`, the tracking stub and the SIP tester all run from it.
#
# Built from debian:bookworm-slim (Docker Hub's, or scripts/docker-base from Debian's archive) and the
# hash-locked files of requirements/runtime.lock: nothing else. Two stages: the first installs into a
# virtualenv (pip, the lock, the proxy's CA); the second holds Debian's Python, the virtualenv and the
# line's files, run as the unprivileged user ivr.
#
# Build secret `build_ca` (docker-compose.yml: IVR_BUILD_CA): the CA of a TLS-intercepting proxy
# between this machine and PyPI. pip uses it while building; it is mounted for one command only and is
# in no layer of the image (tests/docker check).

FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/ivr
COPY requirements/runtime.lock /tmp/runtime.lock
RUN --mount=type=secret,id=build_ca,required=false \
    if [ -s /run/secrets/build_ca ]; then export PIP_CERT=/run/secrets/build_ca; fi; \
    /opt/ivr/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes -r /tmp/runtime.lock
COPY pyproject.toml README.md /src/
COPY ivr /src/ivr
COPY agi_scripts /src/agi_scripts
RUN /opt/ivr/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation /src \
    && /opt/ivr/bin/python -m pip uninstall -y -q pip setuptools wheel
# The French Vosk model is downloaded only when asked (FETCH_MODEL=true and internet); otherwise speech
# falls back to the keypad, or mount a model at /opt/models (README "Speech").
ARG FETCH_MODEL=false
RUN --mount=type=secret,id=build_ca,required=false \
    mkdir -p /opt/models && if [ "$FETCH_MODEL" = "true" ]; then \
      if [ -s /run/secrets/build_ca ]; then export SSL_CERT_FILE=/run/secrets/build_ca; fi; \
      /opt/ivr/bin/ivr model fetch --dir /opt/models; fi

FROM debian:bookworm-slim
# Python from Debian (the virtualenv's interpreter), Graphviz for the console's flow drawings (`dot`;
# a plain drawing without it), tini so that the IVR is not PID 1 and drains on SIGTERM.
RUN apt-get update && apt-get install -y --no-install-recommends python3 graphviz tini \
    && rm -rf /var/lib/apt/lists/*
# Folders shared with the Asterisk container through named volumes (they start as these folders):
# readbacks the IVR renders (they speak personal data) are readable by group 3400 only, which the
# Asterisk container joins (group_add in docker-compose.yml): 0640 files in a setgid 2750 folder;
# recordings Asterisk writes and the IVR reads and deletes, whatever user each container runs as
# (0777, on a volume only these two mount).
RUN groupadd --system --gid 3400 ivr && useradd --system --uid 3400 --gid ivr --home /app --shell /usr/sbin/nologin ivr \
    && mkdir -p /app /var/spool/ivr /var/lib/ivr /var/cache/ivr-prompts \
    && chown ivr:ivr /var/spool/ivr /var/lib/ivr /var/cache/ivr-prompts \
    && chmod 2750 /var/cache/ivr-prompts && chmod 0777 /var/spool/ivr
COPY --from=build /opt/ivr /opt/ivr
COPY --from=build /opt/models /opt/models
# The line's files at the paths Asterisk plays them from and administrators mount over: the prompt
# catalog and the flows (docker-compose.yml mounts ./ivr/prompts and ./ivr/flows here).
COPY ivr/prompts /app/ivr/prompts
COPY ivr/flows /app/ivr/flows
COPY ivr/sim/scenarios /app/ivr/sim/scenarios
WORKDIR /app
ENV PATH=/opt/ivr/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IVR_LOG_FORMAT=json \
    IVR_VOSK_MODEL=/opt/models/vosk-model-small-fr-0.22 \
    IVR_PROMPTS_DIR=/app/ivr/prompts \
    IVR_FLOWS_DIR=/app/ivr/flows \
    IVR_DYNAMIC_PROMPTS_DIR=/var/cache/ivr-prompts \
    IVR_RECORDS=/var/lib/ivr/calls.jsonl \
    IVR_STORE=/var/lib/ivr/ivr.sqlite \
    IVR_ACCEPTED_DIR=/var/lib/ivr/accepted
USER ivr
EXPOSE 4573 9092 8080 8081
# Healthy = /healthz answers 200: the process serves and its FastAGI port listens (`ivr serve` opens it
# once the flows, the prompts and the store are loaded). The tracking stub overrides it (compose).
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=6 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["tini", "--"]
CMD ["ivr", "serve", "--host", "0.0.0.0"]
