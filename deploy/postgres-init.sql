-- Databases beside Dagster's own: MLflow's backend store and the trader ledger.
CREATE DATABASE mlflow;
CREATE DATABASE ledger;
