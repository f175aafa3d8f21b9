# camtay: one image for every process. Build: docker build -t camtay .
#   web:        camtay serve --host 0.0.0.0 --port 8000   (the web chat, webhooks, /healthz, /readyz)
#   worker:     camtay worker                             (the outbox, reminders, model answers)
#   migrations: camtay db upgrade                         (once per release, before the web starts)
# The default CMD below migrates and then serves: right for a single container, e.g.
#   docker run -p 8000:8000 -v camtay-var:/app/var camtay   (SQLite in /app/var)
# compose.yaml and deploy/k8s/ override it with `camtay serve` alone, so that N web replicas do
# not race to migrate: a one-off migrate service (compose) or Job (Kubernetes) does that.
# Settings are CAMTAY_* environment variables (bot/settings.py); see deploy/env.example.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    CAMTAY_LESSONS_DIR=/app/lessons

WORKDIR /app

# Only the lock first, so this layer stays cached until the dependencies change.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

# The lessons folder lives outside the Python packages, hence CAMTAY_LESSONS_DIR above.
COPY pyproject.toml README.md ./
COPY bot/ ./bot/
COPY webhook/ ./webhook/
COPY admin/ ./admin/
COPY lessons/ ./lessons/
RUN pip install --no-deps --no-cache-dir . \
    && rm -rf build ./*.egg-info

# The default SQLite file is var/camtay.sqlite3 relative to WORKDIR: keep it writable and persistent.
# A numeric USER lets Kubernetes' runAsNonRoot verify it (deploy/k8s runs as 10001 too). The
# code stays owned by root, so the server cannot change it; a read-only root filesystem works.
RUN groupadd --system --gid 10001 camtay \
    && useradd --system --uid 10001 --gid camtay --home-dir /app --shell /usr/sbin/nologin camtay \
    && mkdir -p /app/var \
    && chown camtay:camtay /app/var
VOLUME ["/app/var"]
USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["sh", "-c", "camtay db upgrade && exec camtay serve --host 0.0.0.0 --port 8000"]
