FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 MLFLOW_DISABLE_TELEMETRY=true
WORKDIR /app
COPY pyproject.toml README.md ./
COPY flowlet flowlet
COPY streams streams
COPY features features
COPY models models
COPY ledger ledger
COPY dashboards dashboards
COPY .streamlit .streamlit
RUN pip install --no-cache-dir .
ENTRYPOINT ["flowlet"]
CMD ["worker"]
