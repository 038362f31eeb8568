"""Checks that block bad data from reaching training."""

from dagster import AssetCheckResult, AssetKey, asset_check

from models.features import FEATURE_COLUMNS
from models.train import walk_forward_split
from orchestration.assets.train import label_horizon
from orchestration.resources import MlflowResource, WarehouseResource


@asset_check(asset=AssetKey("training_set"), blocking=True, description="Rows on both sides of the split, no missing features.")
def training_set_is_usable(warehouse: WarehouseResource, mlflow: MlflowResource) -> AssetCheckResult:
    frame = warehouse.table("training_set")
    missing = int(frame[FEATURE_COLUMNS].isna().sum().sum())
    try:
        split = walk_forward_split(frame, mlflow.holdout_days, label_horizon())
        sizes = {"train_rows": len(split.train), "holdout_rows": len(split.holdout), "up_share": float(frame["label"].mean())}
        problem = None
    except ValueError as exc:
        sizes, problem = {}, str(exc)
    return AssetCheckResult(
        passed=problem is None and missing == 0,
        metadata={"rows": len(frame), "missing_feature_values": missing, **sizes, **({"problem": problem} if problem else {})},
    )
