# One image for every tourcrm process role. Built with `--build-arg SERVICE=<profile|complaints|loyalty|feedback>`
# it serves that service when started without arguments; with arguments it runs that `tourcrm` command
# (`migrate`, `dlq list loyalty`, `serve feedback` …). tests/deploy/test_compose.py checks what it installs.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# The Chinese font the complaints PDF report embeds (services/complaints/report_pdf.py)
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei && rm -rf /var/lib/apt/lists/*
# `pip install .` at the versions the suite passed with (constraints.txt): the runtime dependencies of
# pyproject.toml (not the dev extras) and the packages shared, services and tourcrm with their migrations
COPY pyproject.toml README.md constraints.txt ./
COPY shared ./shared
COPY services ./services
COPY tourcrm ./tourcrm
RUN pip install --constraint constraints.txt . && rm -rf /app/build && groupadd --system --gid 10001 tourcrm \
    && useradd --system --uid 10001 --gid 10001 --no-create-home tourcrm
USER 10001:10001
# var: scratch only in production (the metrics files of several worker processes)
ENV TOURCRM_ENVIRONMENT=production TOURCRM_HOST=0.0.0.0 TOURCRM_VAR_DIR=/tmp/tourcrm HOME=/tmp
ARG SERVICE=""
ENV TOURCRM_SERVICE=${SERVICE}
ENTRYPOINT ["/bin/sh", "-c", "if [ $# -eq 0 ]; then exec tourcrm serve \"$TOURCRM_SERVICE\"; fi; exec tourcrm \"$@\"", "tourcrm"]
CMD []
