"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time zones and no exact decimals: `UTCDateTime` stores UTC and always hands back an aware
UTC datetime (never a naive one), and `Money` stores dollars as a scaled integer so amounts stay exact on
both back ends (and still sum in SQL, in units of 1/10,000 dollar).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

MONEY_SCALE = 10_000  # same scale as protocol.PRICE_SCALE: 1/100 cent
MONEY_MAX = 2**63 - 1  # BigInteger; about 922 trillion dollars


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware timestamp. Refuses naive datetimes; always returns UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store times as aware UTC")
        value = value.astimezone(dt.UTC)
        # SQLite keeps text without an offset: store it in UTC and re-attach UTC on the way out.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Money(TypeDecorator[Decimal]):
    """Exact dollar amount with up to 4 decimals, stored as BigInteger units of 1/10,000 dollar."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be Decimal, int or decimal text, never float")
        d = Decimal(str(value)) if not isinstance(value, Decimal) else value
        scaled = d * MONEY_SCALE
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than 4 decimals")
        if not -MONEY_MAX <= scaled <= MONEY_MAX:
            raise ValueError(f"{value} is out of range for a money column (|x| <= {MONEY_MAX / MONEY_SCALE})")
        return int(scaled)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / MONEY_SCALE).quantize(Decimal("0.0001"))
