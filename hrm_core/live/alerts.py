"""Alerts that reach people: a message when the health verdict changes or a paper fill happens.

Targets come from the settings' [alerts] section (hrm_core.settings.AlertSettings):

- ``webhook``: an HTTP(S) JSON POST ``{"text": ..., "content": ..., "event": {...}}``; Slack incoming
  webhooks read "text", Discord's read "content", and both ignore the rest;
- ``command``: run (shell-split, no shell) with the message on stdin and in $HRM_ALERT_TEXT, the event as
  JSON in $HRM_ALERT_EVENT.

Each target gets 1 + ``retries`` attempts of at most ``timeout_s`` each, 1 s, 2 s, ... apart. Sending never
raises: a failure comes back as a warning line. `send` waits for the attempts (a one-shot CLI such as
`hrm health`); `send_in_background` returns at once, so a trading step never waits on a slow endpoint.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Mapping

from hrm_core.settings import AlertSettings

USER_AGENT = "hrm-trader-alerts"


def enabled(alerts: AlertSettings) -> bool:
    return bool(alerts.webhook or alerts.command)


def _post(url: str, body: bytes, timeout_s: float) -> None:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": USER_AGENT})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (the user's own setting)
        if not 200 <= resp.status < 300:
            raise OSError(f"HTTP {resp.status}")


def _run(command: str, text: str, event: Mapping[str, Any], timeout_s: float) -> None:
    env = {**os.environ, "HRM_ALERT_TEXT": text, "HRM_ALERT_EVENT": json.dumps(event, default=str)}
    done = subprocess.run(shlex.split(command), input=text, text=True, env=env, timeout=timeout_s,
                          capture_output=True)
    if done.returncode:
        raise OSError(f"exit code {done.returncode}: {done.stderr.strip()[:200]}")


def _attempt(what: str, fn: Callable[[], None], retries: int, sleep=time.sleep) -> str | None:
    """None when `fn` succeeds within 1 + retries attempts; else one warning line."""
    for i in range(retries + 1):
        try:
            fn()
            return None
        except (OSError, subprocess.SubprocessError, ValueError) as exc:  # URLError, timeouts, refused, bad exit
            reason = getattr(exc, "reason", None) or exc
            if i == retries:
                return f"alert not delivered to {what} after {retries + 1} attempt(s): {reason}"
            sleep(1.0 * 2 ** i)
    return None


def send(alerts: AlertSettings, text: str, event: Mapping[str, Any] | None = None) -> list[str]:
    """Deliver `text` to every configured target; the warning lines of those that failed (never raises)."""
    event = dict(event or {})
    warnings = []
    if alerts.webhook:
        body = json.dumps({"text": text, "content": text, "event": event}, default=str).encode()
        host = alerts.webhook.split("/")[2] if alerts.webhook.count("/") >= 2 else alerts.webhook
        warnings.append(_attempt(f"the webhook at {host}", lambda: _post(alerts.webhook, body, alerts.timeout_s),
                                 alerts.retries))
    if alerts.command:
        warnings.append(_attempt(f"the command {shlex.split(alerts.command)[0]!r}",
                                 lambda: _run(alerts.command, text, event, alerts.timeout_s), alerts.retries))
    return [w for w in warnings if w]


def send_in_background(alerts: AlertSettings, text: str, event: Mapping[str, Any] | None = None,
                       on_warning: Callable[[str], None] = lambda line: None) -> threading.Thread | None:
    """`send` on a daemon thread (warnings to `on_warning`); None when no target is set."""
    if not enabled(alerts):
        return None
    thread = threading.Thread(target=lambda: [on_warning(w) for w in send(alerts, text, event)],
                              name="hrm-alert", daemon=True)
    thread.start()
    return thread


def verdict_change(previous: str | None, current: str) -> bool:
    """Alert when the recorded verdict differs from the last one; a first verdict alerts unless it is green."""
    return current != previous if previous is not None else current != "green"


def verdict_text(book: str, previous: str | None, current: str, reasons: list[str]) -> str:
    was = f" (was {previous})" if previous else ""
    return f"HRM health {book}: {current.upper()}{was}. " + "; ".join(reasons[:3])


def fill_text(book: str, fill: Mapping[str, Any]) -> str:
    return (f"HRM paper fill {book}: {fill['side']} {fill['quantity']:.3f} at {fill['price']:.4f} "
            f"({fill['from_weight']:+.2f} -> {fill['to_weight']:+.2f}) on the bar of {fill['time']}")


__all__ = ["enabled", "fill_text", "send", "send_in_background", "verdict_change", "verdict_text"]
