# Production-like image: the same .venv layout and Procfile commands as `make run`.
# The dashboards' Chart.js comes from the npm registry (package-lock.json); only its dist/ folder is kept.
FROM node:20-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/app/var
WORKDIR /app
COPY requirements.txt requirements-build.txt ./
RUN python -m venv .venv && PIP_CONSTRAINT=requirements-build.txt .venv/bin/pip install --no-cache-dir -r requirements.txt
COPY . .
COPY --from=assets /assets/node_modules/chart.js/dist node_modules/chart.js/dist
RUN SECRET_KEY=build-only-key-not-used-at-run-time-000000 AUDIT_CHECKPOINT_KEY=build-only-key-not-used-at-run-time-000000 \
    .venv/bin/python manage.py collectstatic --noinput \
    && useradd --system --home /app civicdesk && mkdir -p var && chown -R civicdesk var
USER civicdesk
EXPOSE 8000
CMD [".venv/bin/gunicorn", "smm.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-"]
