# camtay: the web chat and health checks on uvicorn. Build: docker build -t camtay .
# Run: docker run -p 8000:8000 -v camtay-var:/app/var camtay  (SQLite by default;
# set CAMTAY_DATABASE_URL / CAMTAY_REDIS_URL for PostgreSQL and Redis).
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
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin camtay \
    && mkdir -p /app/var \
    && chown camtay:camtay /app/var
VOLUME ["/app/var"]
USER camtay

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["sh", "-c", "camtay db upgrade && exec camtay serve --host 0.0.0.0 --port 8000"]
