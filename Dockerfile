# syntax=docker/dockerfile:1
# One trustlane node: `trustlane node init` on first start, then `trustlane node serve`
# (gunicorn; the federation sync scheduler runs inside it). See docs/operations.md.
#
#   docker build -t trustlane:0.1.0 .
#   docker compose up            # the EU/US/JP federation of docker-compose.yml

# --- build: wheels of the project (pyproject.toml) and of its dependencies -------------------
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY credentials/ credentials/
COPY registry/ registry/
COPY scan_attestation/ scan_attestation/
COPY risk/ risk/
COPY federation_config/ federation_config/
COPY node/ node/
RUN pip wheel --wheel-dir /wheels .

# --- runtime -----------------------------------------------------------------------------------
FROM python:3.11-slim
# openssl: only for `trustlane-entrypoint certs` (the throwaway CA of docker-compose.yml).
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 trustlane \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/trustlane \
        --no-create-home --shell /usr/sbin/nologin trustlane \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/trustlane \
    && install -d -o 10001 -g 10001 -m 0755 /etc/trustlane /etc/trustlane/certs
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-index --find-links /tmp/wheels trustlane \
    && rm -rf /tmp/wheels
COPY --chmod=0755 deploy/entrypoint.py /usr/local/bin/trustlane-entrypoint
COPY --chmod=0755 deploy/healthcheck.py /usr/local/bin/trustlane-healthcheck

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRUSTLANE_DATA_DIR=/var/lib/trustlane
# node.toml, keys/ (the encrypted key store), secrets/, and node.db when SQLite is used.
VOLUME ["/var/lib/trustlane"]
USER 10001:10001
WORKDIR /var/lib/trustlane
# 443 when the base URL has no port (compose); 8443 behind a Service (Kubernetes).
EXPOSE 443 8443
ENTRYPOINT ["trustlane-entrypoint"]
CMD ["serve"]
