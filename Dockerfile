# A small image that runs the bot as an unprivileged user with its database on a volume.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/imagine.db
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /data imagine \
    && mkdir -p /data && chown imagine /data
USER imagine
WORKDIR /data
VOLUME ["/data"]
CMD ["python", "-m", "bot"]
