"""dbt assets: staging, sentiment bars, windowed features, labels and the training set, in DuckDB."""

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from models.features import DBT_PROJECT_DIR
from orchestration.resources import dbt_environment
from sentitrade.settings import Settings

# dbt is installed beside this interpreter; put it on PATH even when the venv is not activated.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
os.environ.update({k: v for k, v in dbt_environment(Settings()).items() if k not in os.environ})
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR)


def _manifest_is_stale() -> bool:
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    return any(p.stat().st_mtime > built for p in DBT_PROJECT_DIR.rglob("*") if p.suffix in {".sql", ".yml"} and "target" not in p.parts)


if _manifest_is_stale():  # a fresh clone has none; `dagster dev` re-parses on every load anyway
    dbt_project.preparer.prepare(dbt_project)


class LakeTranslator(DagsterDbtTranslator):
    """The dbt sources are the lake tables our ingest and score assets write: same asset keys."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return "features"


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=LakeTranslator())
def dbt_features(context: AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build`: models and their tests, each model a Dagster asset and each test an asset check."""
    yield from dbt.cli(["build"], context=context).stream()
