# One image for every service of ours in docker-compose.yml: the Dagster user-code server, webserver and
# daemon, the MLflow server and the trader.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY sentitrade sentitrade
COPY connectors connectors
COPY models models
COPY orchestration orchestration
COPY trader trader
COPY dbt dbt
COPY deploy deploy
COPY workspace.yaml ./
# torch first, with its exact pin (a looser resolution pulls a multi-GB CUDA build); `production` adds boto3 for
# MLflow's artifacts on S3-compatible storage.
RUN pip install --no-cache-dir -c constraints.txt torch==2.13.0 && pip install --no-cache-dir -c constraints.txt -e '.[production]'
ENV DAGSTER_HOME=/opt/dagster SENTITRADE_DATA_DIR=/data
COPY deploy/dagster.yaml /opt/dagster/dagster.yaml
