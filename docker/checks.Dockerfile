# syntax=docker/dockerfile:1
# Every check of the repository (`tools/nox`, what CI runs) on a machine with
# Docker and nothing else. Run it through docker/compose.checks.yaml, which
# adds the PostgreSQL and Redis servers the tests use:
#
#   docker compose -f docker/compose.checks.yaml up --build --attach checks --exit-code-from checks
#
# The image holds a copy of the working tree, not a bind mount: nothing that
# the checks write (venvs, dist/, caches, as root) lands in your checkout.
# The copy's ignore list is checks.Dockerfile.dockerignore beside this file.
FROM python:3.11-slim

# PostgreSQL's and Redis' server binaries: the resilience tests start private
# servers of their own, and PgBouncer and HAProxy in front of them (the
# resilience group and `nox -s drill`). util-linux: `unshare` for the
# read-only-root check of `nox -s smoke` (tools/read_only_root.py). Versions
# are Debian stable's.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql redis-server pgbouncer haproxy util-linux \
 && rm -rf /var/lib/apt/lists/*

ENV PG_BINDIR=/usr/lib/postgresql/15/bin \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# The pinned Poetry and nox first, in a layer that outlives changes to the code.
COPY tools/nox tools/nox
RUN tools/nox --version
COPY . .

CMD ["tools/nox"]
