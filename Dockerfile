# The bot as an unprivileged process, its dependencies installed from requirements.lock, its
# SQLite ledger (when it uses SQLite) on the /data volume.
#
#   docker build -t imagine-bot .
#   docker run -d --env-file .env -v imagine-data:/data --name imagine imagine-bot
#
# BASE_IMAGE is any image with Python 3.11 or newer (python3 with its venv module); the
# default is the official slim one.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.lock ./
# Every file the lock names is downloaded and checked against its hash; the install below then
# works offline from those files, so it takes the locked versions of the runtime dependencies
# only (the test tools in the lock stay in this stage, which is thrown away).
RUN python3 -m venv /opt/imagine \
    && /opt/imagine/bin/pip download --quiet --require-hashes --no-deps \
        -r requirements.lock -d /wheels
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY cogs ./cogs
RUN /opt/imagine/bin/pip wheel --quiet --no-deps -w /wheels . \
    && /opt/imagine/bin/pip install --quiet --no-index --find-links /wheels imagine-bot \
    && /opt/imagine/bin/pip check

FROM ${BASE_IMAGE}
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="imagine-bot" \
      org.opencontainers.image.description="A Discord bot that turns prompts into images with the VibeDream Z-Image Turbo API." \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="MIT"
# DATABASE_URL is absolute, and the working directory is /, so that the relative
# `sqlite:///data/imagine.db` of .env.example (passed with --env-file) names the same file,
# /data/imagine.db, on the volume. Any other relative path points into a folder the bot may not
# write, so the bot fails at start instead of keeping its ledger where a restart loses it. No
# .env is copied into the image (see .dockerignore): settings come from the environment.
# METRICS_ADDRESS serves /metrics and /healthz inside the container, for the HEALTHCHECK below;
# they stay there unless it is set to 0.0.0.0:9108 and the port is published.
ENV PATH=/opt/imagine/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_URL=sqlite:////data/imagine.db \
    METRICS_ADDRESS=127.0.0.1:9108
COPY --from=build /opt/imagine /opt/imagine
RUN mkdir -p /data && chown 10001:10001 /data && chmod 700 /data
USER 10001:10001
WORKDIR /
VOLUME ["/data"]
# The bot finishes running jobs for SHUTDOWN_GRACE_SECONDS (20 by default) on SIGTERM: give the
# container longer than that to stop (`docker stop -t 40`, compose's stop_grace_period).
STOPSIGNAL SIGTERM
# `python -m bot health` exits 0 when the bot's /healthz on METRICS_ADDRESS answers healthy,
# and 1 otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot", "health"]
CMD ["python", "-m", "bot"]
