"""Alerts for new reconciliation breaks: always logged, tagged on the flow run, kept as an artifact, and sent
to whatever is configured — a JSON webhook (`alerts.webhook_url`) and/or an Apprise URL (`alerts.apprise_url`,
e.g. slack://, mailto://, json://) — plus any hook other code registers with `register_hook`.

Sending is best effort and never hides the recon result: a failed delivery is logged as an error and tags the
run `alert-failed`, so a Prefect automation on that tag (or on the log) still pages someone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger("colo_ops.recon.alerts")

ALERT_TAG = "recon-new-breaks"
FAILED_TAG = "alert-failed"


@dataclass(frozen=True)
class Alert:
    title: str
    body: str
    date: str
    new_breaks: int
    open_breaks: int
    by_type: dict[str, int] = field(default_factory=dict)
    report: str = ""  # path of the HTML report


Hook = Callable[[Alert], None]
_HOOKS: list[Hook] = []


def register_hook(hook: Hook) -> None:
    """Add a delivery channel (called with every alert, after the configured ones)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)


def unregister_hook(hook: Hook) -> None:
    if hook in _HOOKS:
        _HOOKS.remove(hook)


def _post_webhook(url: str, alert: Alert, timeout_s: float) -> None:
    import httpx

    resp = httpx.post(url, json=asdict(alert), timeout=timeout_s)
    resp.raise_for_status()


def _apprise(url: str, alert: Alert) -> None:
    import apprise

    app = apprise.Apprise()
    if not app.add(url):
        raise ValueError("alerts.apprise_url is not a URL Apprise understands")
    if not app.notify(body=alert.body, title=alert.title):
        raise RuntimeError("Apprise reported the notification as not delivered")


def send(alert: Alert, settings: Any, *, logger: Any = None,
         tag_run: Callable[[list[str]], None] | None = None) -> dict[str, str]:
    """Deliver `alert` on every configured channel; returns channel -> "sent" | "failed: ...". Never raises.

    `logger` is the caller's (the flow run's logger in a flow); `tag_run` tags the caller's run, if it has one
    (the Prefect side is the job's business, not this module's).
    """
    logger = logger or log
    logger.warning("%s: %s", alert.title, alert.body)
    outcome: dict[str, str] = {"log": "sent"}
    timeout_s = float(settings.get("alerts.timeout_s", 5.0))
    channels: list[tuple[str, Callable[[], None]]] = []
    webhook = settings.get("alerts.webhook_url")
    if webhook:
        channels.append(("webhook", lambda: _post_webhook(str(webhook), alert, timeout_s)))
    apprise_url = settings.get("alerts.apprise_url")
    if apprise_url:
        channels.append(("apprise", lambda: _apprise(str(apprise_url), alert)))
    for i, hook in enumerate(list(_HOOKS)):
        channels.append((f"hook{i}:{getattr(hook, '__name__', 'hook')}", lambda h=hook: h(alert)))  # type: ignore[misc]
    for name, deliver in channels:
        try:
            deliver()
            outcome[name] = "sent"
        except Exception as exc:  # one broken channel must not stop the others (or the flow)
            outcome[name] = f"failed: {type(exc).__name__}: {exc}"
            logger.error("recon alert via %s failed: %s", name, exc)
    tags = [ALERT_TAG] + ([FAILED_TAG] if any(v.startswith("failed") for v in outcome.values()) else [])
    if tag_run is None:
        return outcome
    try:
        tag_run(tags)
        outcome["tag"] = ",".join(tags)
    except Exception as exc:  # the API being down must not turn a finished recon into a failed one
        logger.error("could not tag the flow run: %s", exc)
        outcome["tag"] = f"failed: {exc}"
    return outcome
