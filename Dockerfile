# One image for every tourcrm process role: `tourcrm serve <service>`, `tourcrm migrate`, `tourcrm dlq …`.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# The Chinese font the complaints PDF report embeds (services/complaints/report_pdf.py)
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY tourcrm ./tourcrm
RUN pip install . && useradd --system --uid 10001 tourcrm
USER tourcrm
# var: scratch only in production (the metrics files of several worker processes)
ENV TOURCRM_ENVIRONMENT=production TOURCRM_HOST=0.0.0.0 TOURCRM_VAR_DIR=/tmp/tourcrm
ENTRYPOINT ["tourcrm"]
CMD ["--help"]
