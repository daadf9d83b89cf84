# One image for web and workers (docker-compose.yml picks the command). Two targets:
#   docker build .               the CPU image (web, cpu and inference workers): plain TensorFlow, small
#   docker build --target gpu .  the GPU workers': the same pinned TensorFlow with NVIDIA's CUDA and cuDNN
#                                wheels (tensorflow[and-cuda]); run it with a GPU (--gpus all)
FROM python:3.11-slim AS packages

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt
RUN useradd --create-home sightline && mkdir -p /data/media && chown -R sightline /data
EXPOSE 8000
CMD ["gunicorn", "webapp.wsgi:application", "-c", "webapp/gunicorn.conf.py"]

# The CUDA wheels (gigabytes) sit in their own layer under the code, so a code change does not fetch them
# again. The version is read from requirements.txt's pin: the GPU image runs exactly the CPU image's
# TensorFlow.
FROM packages AS cuda-packages
RUN pip install "tensorflow[and-cuda]==$(sed -n 's/^tensorflow==//p' requirements.txt)"

FROM cuda-packages AS gpu
COPY . .
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput && chown -R sightline /app
USER sightline

# Last, so a plain `docker build .` builds the CPU image and never the CUDA layer.
FROM packages AS cpu
COPY . .
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput && chown -R sightline /app
USER sightline
