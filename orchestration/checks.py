"""Checks that block bad data from reaching training."""

from dagster import AssetCheckResult, AssetKey, asset_check

from models import research
from models.features import FEATURE_COLUMNS
from orchestration.resources import WarehouseResource
from sentitrade.settings import Settings


@asset_check(asset=AssetKey("training_set"), blocking=True, description="Enough days for the test span and every validation fold, no missing features.")
def training_set_is_usable(warehouse: WarehouseResource) -> AssetCheckResult:
    frame = warehouse.table("training_set")
    missing = int(frame[FEATURE_COLUMNS].isna().sum().sum())
    try:
        data = research.prepare(frame, Settings())
        sizes = {"development_rows": len(data.development), "test_rows": len(data.test), "folds": len(data.folds),
                 "up_share": float(data.development["label"].mean()), "test_span": f"{data.test_start} to {data.test_end}"}
        problem = None
    except ValueError as exc:
        sizes, problem = {}, str(exc)
    return AssetCheckResult(
        passed=problem is None and missing == 0,
        metadata={"rows": len(frame), "missing_feature_values": missing, **sizes, **({"problem": problem} if problem else {})},
    )
