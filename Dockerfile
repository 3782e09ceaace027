# syntax=docker/dockerfile:1
# Debrief container image: build the release binary, then run it on a slim Debian as a non-root user.
# Build: docker build -t debrief .   Run: see docker-compose.yml (needs DEBRIEF__DATABASE__URL).

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# Debrief's own SQL is checked at run time (sqlx::query), so no database is needed to build; the
# one dependency with compile-time-checked queries (apalis-postgres) ships its offline data, which
# SQLX_OFFLINE makes sqlx use. There is no .sqlx/ folder in this repository.
ENV SQLX_OFFLINE=true
COPY . .
# Cache mounts keep the crate registry and compiled dependencies between builds, so a code change
# recompiles only Debrief itself. target/ is a mount, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked \
    && install -m 0755 target/release/debrief /usr/local/bin/debrief

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 debrief \
    && useradd --system --uid 10001 --gid debrief --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin debrief
WORKDIR /app
COPY --from=builder /usr/local/bin/debrief /usr/local/bin/debrief
COPY configuration/ /app/configuration/
COPY static/ /app/static/
# Local mode writes generated secrets here; a fresh named volume mounted on it copies this ownership.
RUN install -d -m 0700 -o debrief -g debrief /app/.debrief-local
USER debrief
# Production by default: it refuses to start without DEBRIEF__DATABASE__URL,
# DEBRIEF__SECRETS__MASTER_KEYS, DEBRIEF__APPLICATION__SESSION_SECRET and an https
# DEBRIEF__APPLICATION__BASE_URL. docker-compose.yml runs the local demo instead.
ENV APP_ENVIRONMENT=production \
    DEBRIEF__APPLICATION__HOST=0.0.0.0
EXPOSE 8000
CMD ["debrief", "run"]
