"""Shared wiring for the clearing flows: settings → engine, source, core client. Nothing else lives here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from core_bridge.settings import Settings, load_settings


def engine_for(settings: Settings) -> Engine:
    from flows.store.db import make_engine, upgrade

    engine = make_engine(settings.db_url)
    upgrade(engine)
    return engine


def core_for(settings: Settings) -> Any:
    """The operator-role CoreClient, or None when `clearing.push` is false (load-only runs)."""
    if not bool(settings.get("clearing.push", True)):
        return None
    from core_bridge.client.commands import CoreClient

    return CoreClient.from_settings(identity="operator", operator="flows", settings=settings)


def capital(settings: Settings) -> tuple[Decimal, Decimal]:
    """(excess net capital, tentative net capital) from `[bp]` settings (the FinOp's daily figures)."""
    return (Decimal(str(settings.get("bp.excess_net_capital", "25000000"))),
            Decimal(str(settings.get("bp.tentative_net_capital", "30000000"))))


__all__ = ["capital", "core_for", "engine_for", "load_settings"]
