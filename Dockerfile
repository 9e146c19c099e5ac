# syntax=docker/dockerfile:1
# Multi-stage: build a virtual environment, then copy it into a slim runtime as a non-root user.
# Runtime configuration comes from WECARE_* variables (README "Configuration"); in production
# WECARE_SECRET_KEY and WECARE_PUBLIC_BASE_URL (where clients reach the service: the OAuth
# issuer; 0.0.0.0:8000 below is only where it listens) are mandatory, and the database should
# be PostgreSQL with two roles:
# WECARE_MIGRATION_DATABASE_URL (the tables' owner) and WECARE_DATABASE_URL (the runtime role).

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/wecare
RUN python -m venv /opt/venv
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
# Editable install: the package resolves to /srv/wecare/app, next to migrations/ and data/.
RUN /opt/venv/bin/pip install -c constraints.txt -e .

FROM python:3.11-slim-bookworm AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WECARE_ENVIRONMENT=production \
    WECARE_HOST=0.0.0.0 \
    WECARE_PORT=8000 \
    WECARE_WORKERS=4
RUN groupadd --system wecare && useradd --system --gid wecare --home-dir /srv/wecare wecare
WORKDIR /srv/wecare
COPY --from=build /opt/venv /opt/venv
COPY --chown=wecare:wecare pyproject.toml alembic.ini ./
COPY --chown=wecare:wecare app ./app
COPY --chown=wecare:wecare migrations ./migrations
COPY --chown=wecare:wecare data ./data
RUN mkdir -p var && chown wecare:wecare var
USER wecare
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"WECARE_PORT\", \"8000\")}/healthz', timeout=2)"]
# Migrations, the runtime role's grants and reference data first (all idempotent, as the owner:
# WECARE_MIGRATION_DATABASE_URL), then the server with several workers as the runtime role
# (WECARE_DATABASE_URL), without the owner's URL in its environment. On PostgreSQL,
# grant-runtime refuses a runtime URL that is a superuser or the owner; on SQLite it does nothing.
# The same image is the webhook worker's (README "Webhooks"): run it with the command
# `wecare worker` (deploy/compose.yaml's `worker` service), as the runtime role; it needs
# outbound network to partners' endpoints and stops gracefully on SIGTERM.
CMD ["sh", "-c", "wecare db upgrade && wecare db grant-runtime && wecare seed && exec env -u WECARE_MIGRATION_DATABASE_URL wecare serve"]
