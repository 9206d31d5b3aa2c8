"""The Slack Block Kit form of an alert."""

from __future__ import annotations

from typing import Any

from tradewarden.alerts import render
from tradewarden.alerts.model import Alert

HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000


def escape(text: str) -> str:
    """Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str, limit: int = SECTION_MAX) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _cut(text, limit)}


def fallback_text(alert: Alert) -> str:
    """The notification text (shown where blocks are not, e.g. phone push)."""
    return _cut(f"{render.emoji(alert)} {render.summary_line(alert)}", SECTION_MAX)


def footer(alert: Alert, outbox_id: str) -> str:
    parts = [
        "tradewarden",
        render.label(alert).lower(),
        f"dedup `{escape(alert.dedup_key)}`",
        render.timestamp(alert),
    ]
    if outbox_id:
        parts.append(f"alert {outbox_id}")
    return " · ".join(parts)


def build_blocks(alert: Alert, outbox_id: str = "") -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut(
                    f"{render.emoji(alert)} {render.label(alert)}: {alert.title}", HEADER_MAX
                ),
                "emoji": True,
            },
        }
    ]
    if alert.body:
        blocks.append({"type": "section", "text": _mrkdwn(escape(alert.body))})
    fields = [_mrkdwn(f"*{name}*\n{escape(text)}", FIELD_MAX) for name, text in render.facts(alert)]
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    extra = render.details(alert)
    if extra:
        lines = "\n".join(f"*{escape(k)}:* {escape(v)}" for k, v in extra)
        blocks.append({"type": "section", "text": _mrkdwn(lines)})
    if alert.reset_command:
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(
                    f"*Reset command* (after investigating)\n```{escape(alert.reset_command)}```"
                ),
            }
        )
    if alert.runbook_url:
        name = alert.runbook_url.rstrip("/").rsplit("/", 1)[-1] or alert.runbook_url
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(f"*Runbook:* <{alert.runbook_url}|{escape(name)}>"),
                "accessory": {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open runbook"},
                    "url": alert.runbook_url,
                    "action_id": "open_runbook",
                },
            }
        )
    blocks.append({"type": "context", "elements": [_mrkdwn(footer(alert, outbox_id))]})
    return blocks


def colour_bar(alert: Alert) -> list[dict[str, Any]]:
    """A legacy attachment whose only job is the severity colour down the message's side."""
    return [
        {
            "color": render.colour(alert),
            "fallback": render.label(alert),
            "blocks": [
                {
                    "type": "context",
                    "elements": [_mrkdwn(f"severity: *{render.label(alert).lower()}*")],
                }
            ],
        }
    ]
