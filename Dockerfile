# syntax=docker/dockerfile:1
# schema-monitor as a container: the daemon by default, any subcommand on demand.
#
#   docker build -t schema-monitor .
#   docker run --rm schema-monitor check --spec /spec.yaml --dsn "$DATABASE_URL"
#
# Two stages: the builder turns the project and its dependencies into wheels;
# the final stage installs those wheels into a virtualenv and carries neither
# the source tree nor any build tool. Both stages use the same pinned image.

FROM python:3.11.11-slim-bookworm AS builder
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md LICENSE ./
COPY monitor ./monitor
# monitor/daemon/runbooks.md links here: the daemon serves the runbooks at /runbooks.
COPY docs/runbooks.md ./docs/runbooks.md
RUN python -m pip wheel --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
ENV PATH=/opt/schema-monitor/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The wheels are bind-mounted for this one step, so no layer keeps them.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/schema-monitor \
    && /opt/schema-monitor/bin/pip install --no-index --find-links=/wheels schema-monitor \
    && groupadd --system --gid 10001 schema-monitor \
    && useradd --system --uid 10001 --gid schema-monitor --no-create-home \
        --home-dir /var/lib/schema-monitor --shell /usr/sbin/nologin schema-monitor \
    && install -d -o schema-monitor -g schema-monitor -m 0750 /var/lib/schema-monitor \
    && install -d -m 0755 /etc/schema-monitor
WORKDIR /var/lib/schema-monitor
# A numeric user lets Kubernetes prove runAsNonRoot without reading /etc/passwd.
USER 10001:10001
EXPOSE 9568
# Asks /healthz at the config's listen address, over HTTPS when the daemon serves TLS
# (--web.config.file or web.tls); the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["schema-monitor", "healthcheck", "--config", "/etc/schema-monitor/monitor.yaml"]
ENTRYPOINT ["schema-monitor"]
CMD ["run", "--config", "/etc/schema-monitor/monitor.yaml"]
