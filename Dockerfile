# One image for web and workers (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

RUN useradd --create-home sightline && mkdir -p /data/media && chown -R sightline /data /app
USER sightline
EXPOSE 8000
CMD ["gunicorn", "webapp.wsgi:application", "-c", "webapp/gunicorn.conf.py"]
