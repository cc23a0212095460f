# syncd container: `docker run -v syncd-data:/var/lib/syncd -e SYNCD_... syncd` runs the daemon.
# Python 3.11 is the version CI tests (.ci/run). Every dependency is pinned by
# requirements/container.txt (regenerate it with `bash .ci/lock`), so rebuilds are
# reproducible. The image has PostgreSQL support.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE alembic.ini ./
COPY requirements/container.txt ./requirements/container.txt
COPY syncd ./syncd
COPY migrations ./migrations
RUN python -m pip install --no-cache-dir --prefix=/install \
        -c requirements/container.txt ".[postgres]"

FROM python:3.11-slim
# A fixed UID/GID (10001, outside the host's usual range): Kubernetes' runAsNonRoot can
# only verify a numeric USER, and bind-mounted secret files must be made readable by it.
RUN groupadd --system --gid 10001 syncd \
    && useradd --system --uid 10001 --gid syncd --home-dir /var/lib/syncd syncd \
    && mkdir -p /var/lib/syncd && chown syncd:syncd /var/lib/syncd
COPY --from=build /install /usr/local
# The HTTP listener (/healthz, /readyz, /metrics) is on in the image, on every interface
# of the container's own network namespace: the HEALTHCHECK below and orchestrator probes
# need it. The environment beats config.toml, so change or disable it here
# (-e SYNCD_HTTP__LISTEN=0.0.0.0:9000, or -e SYNCD_HTTP__LISTEN= for none), not in the file.
ENV PYTHONUNBUFFERED=1 \
    SYNCD_DATABASE__URL=sqlite:////var/lib/syncd/syncd.db \
    SYNCD_LOGGING__FORMAT=json \
    SYNCD_HTTP__LISTEN=0.0.0.0:8080
EXPOSE 8080
WORKDIR /var/lib/syncd
VOLUME ["/var/lib/syncd"]
USER 10001:10001
# GET /healthz on the port SYNCD_HTTP__LISTEN names (a wildcard host is asked on loopback).
# The slim image has no curl, hence Python's urllib, with proxies ignored: an HTTP_PROXY
# set for the outbound APIs must not carry the probe. A 503, a refused connection or a
# timeout exits 1 (unhealthy). With the listener switched off (SYNCD_HTTP__LISTEN empty)
# there is nothing to ask and the check passes; use --no-healthcheck to drop it instead.
# The start period covers start-up (schema migration, the listener coming up).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["python", "-c", \
    "import os, sys, urllib.request as r; \
a = os.environ.get('SYNCD_HTTP__LISTEN', '').strip(); \
h, _, p = a.rpartition(':'); \
h = {'': '127.0.0.1', '0.0.0.0': '127.0.0.1', '[::]': '[::1]', '::': '[::1]'}.get(h, h); \
a or sys.exit(0); \
o = r.build_opener(r.ProxyHandler({})); \
sys.exit(o.open(f'http://{h}:{p}/healthz', timeout=5).status != 200)"]
# Mount config at /etc/syncd/config.toml and secrets under /run/secrets (Docker secrets).
ENV SYNCD_CONFIG=/etc/syncd/config.toml
ENTRYPOINT ["syncd"]
CMD ["run"]
