FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 MLFLOW_DISABLE_TELEMETRY=true
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY core core
COPY simulator simulator
COPY ledger ledger
COPY cases cases
COPY customers customers
COPY screening screening
COPY features features
COPY models models
COPY detectors detectors
COPY streams streams
COPY dashboards dashboards
COPY flowlet flowlet
COPY .streamlit .streamlit
# gcc only for the build (removed in the same layer): setup.py compiles the scorer's C kernel
# (models/ensemble/_forest.c); without a compiler scoring falls back to XGBoost's predictor.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir . \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["flowlet"]
CMD ["worker"]
