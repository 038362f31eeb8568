"""Bring your own market data: Gamma markets, price histories and resolutions from files into the lake.

Each import reads the whole file first and refuses it with one line (`BadFile`) when the file as a
whole cannot be right: not text, wrong columns, a price outside [0, 1], a market the store does not
know, timestamps out of order or repeated. Only then does it write, through the lake's `upsert`, so a
refused file leaves the store as it was and a second run of the same file lands nothing. A row that
alone is unreadable (a time or price that does not parse, a market that is not Yes/No) becomes a dead
letter with its reason, beside the lake, as tweet imports do.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from connectors.lake import MARKETS, PRICE_HISTORY, Lake
from models.ingest.errors import BadRecord
from models.ingest.landing import Counts, DeadLetters
from models.ingest.markets import parse_gamma_market

RESOLUTIONS = pa.schema([("market", pa.string()), ("resolved_at", pa.timestamp("us")), ("outcome", pa.string())])
PRICE_COLUMNS = ("timestamp", "price")
RESOLUTION_COLUMNS = ("market", "resolved_at", "outcome")


class BadFile(ValueError):
    """The file as a whole cannot be imported; nothing of it was stored."""


@dataclass
class ImportReport(Counts):
    dead_letters: Path | None = None

    def add(self, other: ImportReport) -> None:
        super().add(other)
        self.dead_letters = self.dead_letters or other.dead_letters


def dead_letters_for(lake: Lake, table: str, path: Path) -> DeadLetters:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return DeadLetters(lake.root / "_dead_letters" / table / f"import-{Path(path).stem}-{stamp}.jsonl", str(path))


def _text(path: Path) -> str:
    """The file as UTF-8 text; a binary file (a NUL byte, or bytes that are not UTF-8) is refused."""
    raw = Path(path).read_bytes()
    if b"\x00" in raw[:65_536]:
        raise BadFile(f"{path} is a binary file, not CSV or JSON text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadFile(f"{path} is not UTF-8 text (byte {exc.start}): export it as UTF-8 CSV or JSON") from None


def utc_time(text: str) -> datetime:
    """ISO-8601 (a time without a zone is UTC) or unix seconds, as naive UTC."""
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC).replace(tzinfo=None)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRecord(f"time {text!r} is neither ISO-8601 nor unix seconds") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _csv_rows(text: str, path: Path, columns: tuple[str, ...]) -> Iterable[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(text))
    header = [name.strip().lower() for name in next(reader, [])]
    if missing := [c for c in columns if c not in header]:
        raise BadFile(f"{path}: expected columns {','.join(columns)}, found {','.join(header) or 'nothing'} (missing {', '.join(missing)})")
    for line, row in enumerate(reader, start=2):
        if any(cell.strip() for cell in row):
            yield line, {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header)}


def _known_markets(lake: Lake) -> dict[str, str]:
    """market -> its YES token id, of every market stored."""
    if not lake.exists("markets"):
        return {}
    table = lake.read("markets")
    return dict(zip(table["market"].to_pylist(), table["yes_token_id"].to_pylist(), strict=True))


def _upsert_counting(lake: Lake, table: str, rows: pa.Table, keys: list[str], day: date | None, report: ImportReport) -> None:
    """Upsert the rows that differ from what is stored; identical ones count as duplicates, and nothing
    is written when every row is one (so a second run leaves the files as they were)."""
    if lake.exists(table, day) and rows.num_rows:
        held = set(map(tuple, lake.read(table, day).select(rows.column_names).cast(rows.schema).to_pandas().itertuples(index=False)))
        fresh = pa.array([tuple(r) not in held for r in rows.to_pandas().itertuples(index=False)], pa.bool_())
        report.duplicates += rows.num_rows - pc.sum(fresh).as_py()
        rows = rows.filter(fresh)
    if rows.num_rows:
        lake.upsert(table, rows, keys, day)
        report.landed += rows.num_rows


# markets ------------------------------------------------------------------------------------------


def _json_records(text: str, path: Path) -> list:
    """A JSON array (or one object), else JSON Lines; a line that does not parse is kept as text for a dead letter."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise BadFile(f"{path} is empty") from None
        records = []
        for line in lines:
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                records.append(line)
        if all(isinstance(r, str) for r in records):
            raise BadFile(f"{path} is neither JSON nor JSON Lines") from None
        return records
    return value if isinstance(value, list) else [value]


def import_markets(lake: Lake, path: Path) -> ImportReport:
    """Gamma market objects (a JSON array or JSON Lines, `clobTokenIds` or `positionIds`) -> the markets table."""
    records = _json_records(_text(path), path)
    letters, report, rows = dead_letters_for(lake, "markets", path), ImportReport(read=len(records)), {}
    bad = []
    for line, record in enumerate(records, start=1):
        try:
            if not isinstance(record, dict):
                raise BadRecord("not a Gamma market object")
            row = parse_gamma_market(record)
        except BadRecord as exc:
            bad.append({"reason": str(exc), "line": line, "raw": record if isinstance(record, str) else orjson.dumps(record).decode()[:10_000]})
            continue
        if row["market"] in rows:
            report.duplicates += 1
        rows[row["market"]] = row
    _upsert_counting(lake, "markets", pa.Table.from_pylist(list(rows.values()), schema=MARKETS), ["market"], None, report)
    _dead_letter(letters, bad, report)
    return report


def _dead_letter(letters: DeadLetters, bad: list[dict], report: ImportReport) -> None:
    letters.write(bad)
    report.dead_lettered += len(bad)
    report.dead_letters = letters.path if bad else None


# prices -------------------------------------------------------------------------------------------


def _price_points(text: str, path: Path, bad: list[dict]) -> list[tuple[int, datetime, float]]:
    """(line, ts, price) of a `timestamp,price` CSV or a CLOB `{"history": [{"t", "p"}]}` JSON."""
    if Path(path).suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            history = orjson.loads(text).get("history")
        except (orjson.JSONDecodeError, AttributeError):
            history = None
        if not isinstance(history, list):
            raise BadFile(f'{path}: expected a CLOB prices-history object {{"history": [{{"t": unix seconds, "p": price}}]}}')
        cells = [(i, {"timestamp": str(p.get("t", "")), "price": str(p.get("p", ""))} if isinstance(p, dict) else {}) for i, p in enumerate(history, 1)]
    else:
        cells = list(_csv_rows(text, path, PRICE_COLUMNS))
    points = []
    for line, cell in cells:
        try:
            price = float(cell.get("price", ""))
        except ValueError:
            bad.append({"reason": f"price {cell.get('price')!r} is not a number", "line": line, "raw": orjson.dumps(cell).decode()})
            continue
        try:
            points.append((line, utc_time(cell.get("timestamp", "")), price))
        except BadRecord as exc:
            bad.append({"reason": str(exc), "line": line, "raw": orjson.dumps(cell).decode()})
    return points


def check_series(points: list[tuple[int, datetime, float]], where: str) -> None:
    """A price series the audit would refuse is refused whole: prices in [0, 1], timestamps strictly increasing."""
    for line, ts, price in points:
        if not 0.0 <= price <= 1.0:
            raise BadFile(f"{where} line {line}: price {price} is outside [0, 1] (the YES price is a probability)")
    for (_, before, _), (line, ts, _) in zip(points, points[1:], strict=False):
        if ts <= before:
            what = "repeats" if ts == before else "comes before"
            raise BadFile(f"{where} line {line}: timestamp {ts.isoformat()} {what} the previous one ({before.isoformat()}): sort the file and drop repeats")


def import_prices(lake: Lake, path: Path, market: str) -> ImportReport:
    """A market's YES-price history -> price_history, one partition per UTC day."""
    text = _text(path)
    token = _known_markets(lake).get(market)
    if token is None:
        raise BadFile(f"market {market!r} is not in the markets table: import it first (`sentitrade ingest markets --from FILE`)")
    bad: list[dict] = []
    points = _price_points(text, path, bad)
    check_series(points, str(path))
    report = ImportReport(read=len(points) + len(bad))
    rows = pa.Table.from_pylist([{"market": market, "token_id": token, "ts": ts, "price": p} for _, ts, p in points], schema=PRICE_HISTORY)
    land_prices(lake, rows, report)
    _dead_letter(dead_letters_for(lake, "price_history", path), bad, report)
    return report


def land_prices(lake: Lake, rows: pa.Table, report: ImportReport) -> None:
    days = pc.cast(rows["ts"], pa.date32())
    for day in sorted(pc.unique(days).to_pylist()):
        _upsert_counting(lake, "price_history", rows.filter(pc.equal(days, pa.scalar(day, pa.date32()))), ["token_id", "ts"], day, report)


# resolutions --------------------------------------------------------------------------------------


def import_resolutions(lake: Lake, path: Path) -> ImportReport:
    """`market,resolved_at,outcome` (YES or NO) rows -> the resolutions table the backtest settles on."""
    rows = list(_csv_rows(_text(path), path, RESOLUTION_COLUMNS))
    known = _known_markets(lake)
    if unknown := sorted({cell["market"] for _, cell in rows} - set(known)):
        raise BadFile(f"{path}: market {unknown[0]!r} (and {len(unknown) - 1} more) is not in the markets table: import the markets first" if len(unknown) > 1
                      else f"{path}: market {unknown[0]!r} is not in the markets table: import it first (`sentitrade ingest markets --from FILE`)")
    bad, landed = [], {}
    report = ImportReport(read=len(rows))
    for line, cell in rows:
        outcome = cell["outcome"].upper()
        try:
            if outcome not in ("YES", "NO"):
                raise BadRecord(f"outcome {cell['outcome']!r} is neither YES nor NO")
            resolved_at = utc_time(cell["resolved_at"])
        except BadRecord as exc:
            bad.append({"reason": str(exc), "line": line, "raw": orjson.dumps(cell).decode()})
            continue
        if cell["market"] in landed:
            report.duplicates += 1
        landed[cell["market"]] = {"market": cell["market"], "resolved_at": resolved_at, "outcome": outcome}
    land_resolutions(lake, pa.Table.from_pylist(list(landed.values()), schema=RESOLUTIONS), report)
    _dead_letter(dead_letters_for(lake, "resolutions", path), bad, report)
    return report


def land_resolutions(lake: Lake, rows: pa.Table, report: ImportReport) -> None:
    _upsert_counting(lake, "resolutions", rows, ["market"], None, report)


def stored_resolutions(lake: Lake):
    """The resolutions table as the backtest takes it (market, resolved_at naive UTC, outcome), or None."""
    return lake.read("resolutions").to_pandas() if lake.exists("resolutions") else None


# Pancake's daily bars -----------------------------------------------------------------------------


def import_daily_bars(lake: Lake, root: Path) -> ImportReport:
    """Pancake's `polymarket-history` folder (`connectors.pancake`): its Yes/No markets, their YES daily
    closes and their resolutions. The dataset carries no tick size or fees: the engine's defaults apply."""
    from connectors.pancake import load_daily_bars

    try:
        bars = load_daily_bars(Path(root))
    except FileNotFoundError as exc:
        raise BadFile(f"{root} is not Pancake's polymarket-history folder: {exc}") from None
    prices = bars.prices.assign(ts=bars.prices["ts"].dt.tz_convert(None))
    for market, series in prices.groupby("market"):
        check_series(list(zip(range(1, len(series) + 1), series["ts"].dt.to_pydatetime(), series["price"], strict=True)), f"{root} market {market}")
    ends = prices.groupby("market")["ts"].max()
    resolved = bars.resolutions.assign(resolved_at=bars.resolutions["resolved_at"].dt.tz_convert(None)).set_index("market")["resolved_at"]
    markets = [{**m, "condition_id": m["market"], "question": f"Pancake market {m['market']}",
                "end_date": resolved.get(m["market"], ends.get(m["market"])).to_pydatetime(), "tick_size": 0.01, "min_order_size": 5.0,
                "fees_enabled": False, "fee_rate": 0.0, "fee_exponent": 1.0, "neg_risk": False} for m in bars.markets]
    report = ImportReport(read=len(markets) + len(prices) + len(bars.resolutions))
    _upsert_counting(lake, "markets", pa.Table.from_pylist(markets, schema=MARKETS), ["market"], None, report)
    token = {m["market"]: m["yes_token_id"] for m in bars.markets}
    rows = pa.Table.from_pandas(prices.assign(token_id=prices["market"].map(token))[["market", "token_id", "ts", "price"]], schema=PRICE_HISTORY, preserve_index=False)
    land_prices(lake, rows, report)
    land_resolutions(lake, pa.Table.from_pandas(bars.resolutions.assign(resolved_at=resolved.reindex(bars.resolutions["market"]).to_numpy()),
                                                schema=RESOLUTIONS, preserve_index=False), report)
    return report
