# The `ledger` command, for compose.yaml (one image, one role per container: the command picks it).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package is built from (README.md* so a missing README does not break the build).
COPY pyproject.toml README.md* ./
COPY ledger ./ledger
COPY schemas ./schemas
COPY consumers ./consumers
COPY projections ./projections
RUN pip install . && rm -rf /src/build

# Run unprivileged; the working directory (and LEDGER_DATA_DIR, e.g. the signing key) is a volume.
RUN useradd --system --uid 10001 --home-dir /var/lib/ledger --create-home ledger
USER ledger
WORKDIR /var/lib/ledger
ENV LEDGER_DATA_DIR=/var/lib/ledger

EXPOSE 8000
CMD ["ledger", "serve", "--host", "0.0.0.0", "--port", "8000"]
