"""FINRA CAT order events for a prop firm routing straight to exchanges (see docs/cat.md).

Modules: `config` (identity + every unverified mapping, one place), `events` (drop copy -> records, pure),
`encode` (exact decimals, ET dates, firmROEIDs), `schema` (FINRA tables -> JSON Schema), `fastcheck`
(that schema compiled for the hot path), `rules` (cross-record rules), `package` (NDJSON, bzip2,
metadata, sealing), `feedback` (CAT feedback -> RPR/COR), `deadlines` (T+1 / T+3 on XNYS), `report`,
`day` (a day's work as plain functions).

Invariants:
* Never MEOT/MEOF/MEOA for exchange executions or self-originated orders (cat.md §1.2).
* Nothing is sealed unless every record passed the schema and the cross-record rules.
* CAT files are immutable once sealed: read-only, never overwritten; a resubmission takes new file
  numbers; sealing identical content again is a no-op.
* Same events + same config -> byte-identical files (names, bytes, hashes); no "now" inside any file.
* Prices never pass through a float.
"""
