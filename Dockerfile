# One image for the Dagster webserver and daemon, the MLflow server and the trader.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY sentitrade sentitrade
COPY connectors connectors
COPY models models
COPY orchestration orchestration
COPY trader trader
COPY dbt dbt
COPY workspace.yaml ./
RUN pip install --no-cache-dir -c constraints.txt torch==2.13.0 && pip install --no-cache-dir -c constraints.txt -e .
ENV DAGSTER_HOME=/opt/dagster SENTITRADE_DATA_DIR=/data
COPY deploy/dagster.yaml /opt/dagster/dagster.yaml
