# One image for web, worker and beat (docker-compose.yml reuses it).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DEBUG=false
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN useradd --system --uid 1000 registry \
    && mkdir -p /app/var /app/staticfiles \
    && SECRET_KEY=build-only-collectstatic-key-not-used-at-runtime-0123456789 python manage.py collectstatic --no-input \
    && chown -R registry /app/var /app/staticfiles
USER registry

EXPOSE 8000
CMD ["gunicorn", "registry.wsgi:application", "--config", "gunicorn.conf.py"]
