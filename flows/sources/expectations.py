"""Great Expectations 1.x suites for the clearing files, defined in code on an ephemeral context.

`import great_expectations` costs ~3 s and ~220 MB, so it happens only inside `validate_*` and the
context is cached per process. Structural checks (flows/sources/structural.py) run first; these suites
hold the content rules: CUSIP check digits, ISIN consistency, known accounts, integer quantities, trailer
count and control total, as-of date = business date, no duplicate (account, CUSIP).

Each expectation carries `meta = {"field": ..., "line": ...}` so a failure becomes a FileRejectedError
naming the line (from the `line` column GX reports back, or the header/trailer line) and the field.

Speed (1,000,000 positions in ~1 s, bench/bench_sod_load.py): GX is fed a compact frame, never a column of
Python objects. Text columns are categoricals over the file's dictionary encodings, so the custom CUSIP/ISIN
expectations check each distinct code once with core_bridge.identifiers' vectorised functions; header and
trailer values sit in a two-row file-level frame. `plain_positions_checks` runs the same rules in pandas on
the same frame (the benchmark's comparison).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core_bridge.identifiers import isins_from_cusips, valid_cusips, valid_isins
from flows.errors import FileRejectedError
from flows.sources.positions_format import PositionsFile, dictionary_encode

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


@dataclass
class ValidationReport:
    """What the flow publishes as an artifact: one row per expectation."""

    suite: str
    success: bool
    rows: list[dict[str, Any]]
    seconds: float

    def markdown(self) -> str:
        head = f"**{self.suite}**: {'passed' if self.success else 'FAILED'} ({self.seconds:.2f} s)\n\n"
        table = "| expectation | column | success | unexpected | first line |\n|---|---|---|---|---|\n"
        for r in self.rows:
            table += f"| {r['expectation']} | {r['column']} | {r['success']} | {r['unexpected']} | {r['line']} |\n"
        return head + table


def column_verdict(column: Any, check: Any) -> Any:
    """A pandas bool Series: `check` (a vectorised identifier check) per row. A categorical column is
    checked once per category and spread by its codes (1M rows, ~250k distinct CUSIPs)."""
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype):
        per_category = np.append(check(column.cat.categories.to_numpy(dtype=str)), False)  # code -1: missing
        return pd.Series(per_category[column.cat.codes.to_numpy()], index=column.index)
    return pd.Series(check(column.to_numpy(dtype=str)), index=column.index)


def exact_sum(values: np.ndarray) -> int:
    """Exact sum of an int64 column (numpy's int64 sum wraps silently): high and low bits summed apart."""
    hi = int((values >> 32).sum(dtype=np.int64))  # |hi| < 2**31 per row: safe for 2**32 rows
    lo = int((values & 0xFFFFFFFF).sum(dtype=np.int64))
    return (hi << 32) + lo


def _categorical(uniques: np.ndarray, codes: np.ndarray) -> Any:
    import pandas as pd

    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques.astype(f"U{max(uniques.dtype.itemsize, 1)}")),
                                     validate=False)


def positions_frame(pf: PositionsFile) -> Any:
    """The detail columns the positions suite reads, without a Python object per row: text columns are
    categoricals over the file's dictionary encodings; `isin_of_cusip` (the ISIN each record's CUSIP implies,
    "" where the CUSIP is invalid) shares `isin`'s categories so the two compare code by code."""
    import pandas as pd

    cols = pf.raw
    cus_u, cus_c = pf.encoded("cusip")
    isin_u, isin_c = pf.encoded("isin")
    derived_u = np.where(valid_cusips(cus_u), isins_from_cusips(cus_u), b"").astype("S12")
    shared_u, shared_c = dictionary_encode(np.concatenate([isin_u.astype("S12"), derived_u]))
    return pd.DataFrame({
        "line": cols["line"],
        "account": _categorical(*pf.encoded("account")),
        "cusip": _categorical(cus_u, cus_c),
        "isin": _categorical(shared_u, shared_c[:len(isin_u)][isin_c]),
        "isin_of_cusip": _categorical(shared_u, shared_c[len(isin_u):][cus_c]),
        "td_quantity": cols["td_quantity"],
        "sd_quantity": cols["sd_quantity"],
        "currency": _categorical(*pf.encoded("currency")),
    }, copy=False)


def _context() -> dict[str, Any]:
    """The cached ephemeral context, its pandas data source and the custom expectation classes."""
    with _LOCK:
        if _STATE:
            return _STATE
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import PandasExecutionEngine
        from great_expectations.expectations.expectation import ColumnMapExpectation
        from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

        class ColumnValuesValidCusip(ColumnMapMetricProvider):
            condition_metric_name = "column_values.valid_cusip"

            @column_condition_partial(engine=PandasExecutionEngine)
            def _pandas(cls, column: Any, **kwargs: Any) -> Any:
                return column_verdict(column, valid_cusips)

        class ExpectColumnValuesToBeValidCusip(ColumnMapExpectation):
            """CUSIP modulus-10 double-add-double check digit."""

            map_metric = "column_values.valid_cusip"
            success_keys = ("mostly",)

        class ColumnValuesValidIsin(ColumnMapMetricProvider):
            condition_metric_name = "column_values.valid_isin"

            @column_condition_partial(engine=PandasExecutionEngine)
            def _pandas(cls, column: Any, **kwargs: Any) -> Any:
                return column_verdict(column, valid_isins)

        class ExpectColumnValuesToBeValidIsin(ColumnMapExpectation):
            """ISIN Luhn check digit."""

            map_metric = "column_values.valid_isin"
            success_keys = ("mostly",)

        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        ds = ctx.data_sources.add_pandas("clearing")
        _STATE.update(
            gx=gx, ctx=ctx, ds=ds, batch_defs={},
            ExpectColumnValuesToBeValidCusip=ExpectColumnValuesToBeValidCusip,
            ExpectColumnValuesToBeValidIsin=ExpectColumnValuesToBeValidIsin,
        )
        return _STATE


def _batch_definition(name: str) -> Any:
    st = _context()
    if name not in st["batch_defs"]:
        st["batch_defs"][name] = st["ds"].add_dataframe_asset(name).add_batch_definition_whole_dataframe("whole")
    return st["batch_defs"][name]


def _run(suite_name: str, frame: Any, expectations: list[Any]) -> tuple[Any, float]:
    import time

    st = _context()
    gx = st["gx"]
    suite = gx.ExpectationSuite(name=suite_name)
    for e in expectations:
        suite.add_expectation(e)
    t0 = time.perf_counter()
    batch = _batch_definition(suite_name).get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={
        "result_format": "SUMMARY", "unexpected_index_column_names": ["line"], "partial_unexpected_count": 3,
    })
    return result, time.perf_counter() - t0


def _report(suite: str, result: Any, seconds: float) -> ValidationReport:
    rows = []
    for r in result.results:
        cfg = r.expectation_config
        res = dict(r.result or {})
        idx = res.get("partial_unexpected_index_list") or []
        line = idx[0].get("line") if idx and isinstance(idx[0], dict) else (cfg.meta or {}).get("line")
        rows.append({
            "expectation": cfg.type, "column": (cfg.meta or {}).get("field", ""), "success": bool(r.success),
            "unexpected": res.get("unexpected_count", 0 if r.success else res.get("observed_value")),
            "line": int(line) if line is not None and not r.success else None,
            "example": (res.get("partial_unexpected_list") or [None])[0] if not r.success else None,
        })
    return ValidationReport(suite, bool(result.success), rows, seconds)


def _raise_first(path: Path, report: ValidationReport) -> None:
    for r in report.rows:
        if not r["success"]:
            what = r["expectation"].removeprefix("expect_").replace("_", " ")
            example = f" (e.g. {r['example']!r})" if r["example"] is not None else ""
            raise FileRejectedError(path, f"failed: {what}{example}; unexpected={r['unexpected']}",
                                    line=r["line"], field=r["column"])


def validate_positions(pf: PositionsFile, business_date: dt.date, known_accounts: frozenset[str]
                       ) -> ValidationReport:
    """Run the positions suite; raise FileRejectedError on the first failed expectation, else the report."""
    import pandas as pd

    st = _context()
    gxe = st["gx"].expectations
    # ISIN consistency: the ISIN must be the one derived from the record's CUSIP (US + CUSIP + Luhn).
    frame = positions_frame(pf)
    n_trailer = len(pf) + 2
    # File-level values, one row per record they come from (header: line 1, trailer: last line); GX map
    # expectations skip the missing cells. The control total is compared with the exact sum computed once
    # (GX's column-sum metric walks all 1M values in Python looking for Decimals first).
    file_frame = pd.DataFrame({
        "line": [1, n_trailer],
        "as_of_date": pd.array([pf.as_of.isoformat(), None], dtype="str"),
        "td_quantity_sum": pd.array([None, exact_sum(pf.raw["td_quantity"])], dtype="object"),
    })

    head_result, t_head = _run("positions_file", file_frame, [
        gxe.ExpectColumnValuesToBeInSet(column="as_of_date", value_set=[business_date.isoformat()],
                                        meta={"field": "as_of_date", "line": 1}),
        gxe.ExpectColumnValuesToBeInSet(column="td_quantity_sum", value_set=[pf.control_total],
                                        meta={"field": "control_total", "line": n_trailer}),
    ])
    detail_result, t_detail = _run("positions_detail", frame, [
        st["ExpectColumnValuesToBeValidCusip"](column="cusip", meta={"field": "cusip"}),
        st["ExpectColumnValuesToBeValidIsin"](column="isin", meta={"field": "isin"}),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="isin", column_B="isin_of_cusip", meta={"field": "isin"}),
        gxe.ExpectColumnValuesToBeInSet(column="account", value_set=sorted(known_accounts),
                                        meta={"field": "account"}),
        gxe.ExpectColumnValuesToBeInTypeList(column="td_quantity", type_list=["int64"],
                                             meta={"field": "td_quantity"}),
        gxe.ExpectColumnValuesToBeInTypeList(column="sd_quantity", type_list=["int64"],
                                             meta={"field": "sd_quantity"}),
        gxe.ExpectColumnValuesToBeInSet(column="currency", value_set=["USD"], meta={"field": "currency"}),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["account", "cusip"], meta={"field": "account,cusip"}),
        gxe.ExpectTableRowCountToEqual(value=pf.detail_count, meta={"field": "detail_count", "line": n_trailer}),
    ])
    head = _report("positions_file", head_result, t_head)
    detail = _report("positions_detail", detail_result, t_detail)
    # Reported in file order: header, detail records, trailer.
    trailer_rows = [r for r in head.rows if r["column"] == "control_total"]
    rows = [r for r in head.rows if r["column"] != "control_total"] + detail.rows + trailer_rows
    report = ValidationReport("clearing_positions", head.success and detail.success, rows, t_head + t_detail)
    _raise_first(pf.path, report)
    return report


def validate_balances_frame(path: Path, frame: Any, business_date: dt.date, known_accounts: frozenset[str], *,
                            record_count: int | None = None, trailer_line: int | None = None) -> ValidationReport:
    """Balances suite: known accounts, one row per account, as-of date, no negative market values, and (with
    `record_count`, the trailer's) as many rows as the trailer counts."""
    gxe = _context()["gx"].expectations
    trailer = [] if record_count is None else [
        gxe.ExpectTableRowCountToEqual(value=record_count, meta={"field": "record_count", "line": trailer_line})]
    result, secs = _run("balances", frame, [
        gxe.ExpectColumnValuesToBeInSet(column="date", value_set=[business_date.isoformat()],
                                        meta={"field": "date"}),
        gxe.ExpectColumnValuesToBeInSet(column="account_id", value_set=sorted(known_accounts),
                                        meta={"field": "account_id"}),
        gxe.ExpectColumnValuesToBeUnique(column="account_id", meta={"field": "account_id"}),
        gxe.ExpectColumnValuesToBeBetween(column="long_market_value", min_value=0,
                                          meta={"field": "long_market_value"}),
        gxe.ExpectColumnValuesToBeBetween(column="short_market_value", min_value=0,
                                          meta={"field": "short_market_value"}),
        gxe.ExpectColumnValuesToBeBetween(column="dtbp", min_value=0, meta={"field": "dtbp"}),
        *trailer,
    ])
    report = _report("clearing_balances", result, secs)
    _raise_first(path, report)
    return report


def plain_positions_checks(pf: PositionsFile, business_date: dt.date, known_accounts: frozenset[str]) -> list[str]:
    """The same rules as the GX positions suite in plain pandas on the same frame and the same vectorised
    identifier checks (the benchmark's comparison; returns the faulty fields)."""
    frame = positions_frame(pf)
    faults = []
    if pf.as_of != business_date:
        faults.append("as_of_date")
    if not column_verdict(frame["cusip"], valid_cusips).all():
        faults.append("cusip")
    if not column_verdict(frame["isin"], valid_isins).all() or not (frame["isin"] == frame["isin_of_cusip"]).all():
        faults.append("isin")
    if not frame["account"].isin(known_accounts).all():
        faults.append("account")
    if frame["td_quantity"].dtype.kind != "i" or frame["sd_quantity"].dtype.kind != "i":
        faults.append("quantity")
    if not (frame["currency"] == "USD").all():
        faults.append("currency")
    if frame.duplicated(["account", "cusip"]).any():
        faults.append("account,cusip")
    if len(frame) != pf.detail_count:
        faults.append("detail_count")
    if exact_sum(frame["td_quantity"].to_numpy()) != pf.control_total:
        faults.append("control_total")
    return faults
