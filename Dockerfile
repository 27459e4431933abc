# The Switchboard image: the `switchboard` command with the gateway extras. docker-compose.yml runs
# it as the worker (default command), the HTTP gateway and the one-shot directory loader.
#
#   docker build -t switchboard:0.2.0 .
#   docker run --rm -e TEMPORAL_ADDRESS=host:7233 -e SWITCHBOARD_DATABASE_URL=... switchboard:0.2.0
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
RUN pip install -c requirements.lock '.[gateway]' \
    && useradd --create-home --uid 10001 switchboard \
    && chown switchboard:switchboard /app

# /app is writable for the default SQLite file when SWITCHBOARD_DATABASE_URL is not set.
USER switchboard
EXPOSE 8000
CMD ["switchboard", "worker"]
