# One image for the whole product (docs/CONTRACT.md §1):
#   web (default):  docker run -p 4000:4000 -e SECRET_KEY=… -e DATABASE_URL=… IMAGE
#   worker + beat:  docker run -e SECRET_KEY=… -e DATABASE_URL=… -e CELERY_BROKER_URL=… IMAGE celery -A pixell worker -B --loglevel=info
#   migrations:     docker run … IMAGE python manage.py migrate --noinput   (once per release)
# Configuration is the environment only (README, "Configuration"); nothing secret is baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=4000 \
    PIXELL_SECOND_PORT=off \
    PIXELL_DATA_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

RUN useradd --create-home --uid 10001 --user-group pixell

# Requirements first: the dependency layer is rebuilt only when they change.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Static files are collected at build time, outside PIXELL_DATA_DIR so a volume mounted on the
# data directory cannot hide them. Settings refuse to boot without a SECRET_KEY when DEBUG is off;
# this one exists only for this build step and is not kept in the image's environment.
RUN SECRET_KEY=collectstatic-build-only-not-a-secret DEBUG=false PIXELL_DATA_DIR=/tmp/build-data \
        python manage.py collectstatic --noinput -v 0 \
    && rm -rf /tmp/build-data \
    && mkdir -p /app/var \
    && chown -R pixell:pixell /app/var

USER pixell

EXPOSE 4000

# The Procfile's web line: pixell/gunicorn_conf.py binds 0.0.0.0:$PORT (override with -e PORT=…)
# and adds the metrics hooks and JSON error lines; each request is logged once, by the application
# (logger pixell.request, with its request id), not again by gunicorn's access log. The second port that serves
# pixell-sdk's `--env local` on a developer's machine is off in the image (PIXELL_SECOND_PORT above;
# -e PIXELL_SECOND_PORT=3000 turns it on).
CMD ["gunicorn", "pixell.wsgi:application", "-c", "python:pixell.gunicorn_conf", "--worker-class", "gthread", "--workers", "2", "--threads", "4", \
     "--timeout", "120", "--no-control-socket", "--error-logfile", "-"]
