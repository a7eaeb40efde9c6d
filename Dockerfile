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
COPY rules rules
COPY streams streams
COPY dashboards dashboards
COPY flowlet flowlet
COPY .streamlit .streamlit
# gcc only for the build (removed in the same layer): setup.py compiles the scorer's C kernel
# (models/ensemble/_forest.c); without a compiler scoring falls back to XGBoost's predictor.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir . \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
# Run as an unprivileged user. The folders that become volumes exist here, owned by it, so
# Docker initialises new named volumes with that owner (the lake, MLflow's store).
RUN useradd --system --uid 10001 --create-home --home-dir /home/flowlet flowlet \
    && mkdir -p /data /mlflow && chown flowlet:flowlet /data /mlflow
USER flowlet
ENTRYPOINT ["flowlet"]
CMD ["worker"]
