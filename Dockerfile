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
RUN groupadd --system syncd && useradd --system --gid syncd --home-dir /var/lib/syncd syncd \
    && mkdir -p /var/lib/syncd && chown syncd:syncd /var/lib/syncd
COPY --from=build /install /usr/local
ENV PYTHONUNBUFFERED=1 \
    SYNCD_DATABASE__URL=sqlite:////var/lib/syncd/syncd.db \
    SYNCD_LOGGING__FORMAT=json
WORKDIR /var/lib/syncd
VOLUME ["/var/lib/syncd"]
USER syncd
# Mount config at /etc/syncd/config.toml and secrets under /run/secrets (Docker secrets).
ENV SYNCD_CONFIG=/etc/syncd/config.toml
ENTRYPOINT ["syncd"]
CMD ["run"]
