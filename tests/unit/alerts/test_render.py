from __future__ import annotations

import html
import io
import json
from pathlib import Path

from tradewarden.alerts import catalogue as cat
from tradewarden.alerts.blocks import build_blocks, colour_bar, fallback_text
from tradewarden.alerts.console import ConsoleChannel
from tradewarden.alerts.email import build_message, message_id
from tradewarden.alerts.sns import SMS_MAX, sms_text

OUTBOX_ID = "0123456789abcdef0123456789abcdef"


def trip() -> object:
    return cat.breaker_tripped(
        "daily_loss",
        "trend-btc",
        0.052,
        0.05,
        orders_cancelled=["tw-1", "tw-2"],
        positions_closed=["trend-btc:BTCUSDT"],
        runbook_base_url="https://rb.example/runbooks/",
    )


def by_type(blocks: list[dict], kind: str) -> list[dict]:
    return [b for b in blocks if b["type"] == kind]


def test_block_kit_message_has_every_field_a_responder_needs() -> None:
    alert = trip()
    blocks = build_blocks(alert, OUTBOX_ID)  # type: ignore[arg-type]
    header = by_type(blocks, "header")[0]["text"]["text"]
    assert header.startswith("🚨 CRITICAL: Breaker tripped: daily_loss on trend-btc")
    fields = {
        f["text"].split("\n", 1)[0]: f["text"].split("\n", 1)[1]
        for b in blocks
        if "fields" in b
        for f in b["fields"]
    }
    assert fields["*What tripped*"] == "daily_loss breaker on trend-btc"
    assert fields["*Value vs threshold*"] == "5.20% vs threshold 5.00%"
    assert fields["*State*"] == "HALTED"
    assert "2 order(s) cancelled: tw-1, tw-2" in fields["*Actions taken*"]
    assert "1 position(s) closed: trend-btc:BTCUSDT" in fields["*Actions taken*"]
    texts = [b["text"]["text"] for b in by_type(blocks, "section") if "text" in b]
    reset = next(t for t in texts if t.startswith("*Reset command*"))
    # Slack renders &lt; &gt; &amp; back to < > &: what the responder copies is exact
    assert f"```{alert.reset_command}```" in html.unescape(reset)  # type: ignore[attr-defined]
    runbook = next(b for b in by_type(blocks, "section") if "accessory" in b)
    assert runbook["accessory"]["url"] == "https://rb.example/runbooks/breaker-tripped.md"
    assert (
        "<https://rb.example/runbooks/breaker-tripped.md|breaker-tripped.md>"
        in (runbook["text"]["text"])
    )
    footer = by_type(blocks, "context")[0]["elements"][0]["text"]
    assert f"alert {OUTBOX_ID}" in footer
    assert colour_bar(alert)[0]["color"] == "#D32F2F"  # type: ignore[arg-type]
    assert "5.20% vs threshold 5.00%" in fallback_text(alert)  # type: ignore[arg-type]


def test_severity_emoji_and_colour_differ_and_resolved_is_green() -> None:
    warn = cat.low_balance("USDT", 40.0, 100.0)
    info = cat.bot_started("trend-btc")
    done = trip().resolution("reset by ana")  # type: ignore[attr-defined]
    heads = [build_blocks(a)[0]["text"]["text"] for a in (warn, info, done)]
    assert heads[0].startswith("⚠️ WARNING") and heads[1].startswith("ℹ️ INFO")
    assert heads[2].startswith("✅ RESOLVED: Breaker tripped")
    colours = {colour_bar(a)[0]["color"] for a in (trip(), warn, info, done)}  # type: ignore[arg-type]
    assert len(colours) == 4


def test_mrkdwn_control_characters_are_escaped() -> None:
    alert = cat.system_error("exchange", "<!channel> & <http://evil|click>")
    text = json.dumps(build_blocks(alert))
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp;" in text


def test_email_has_plain_and_html_parts_and_a_message_id_from_the_outbox_id() -> None:
    msg = build_message(trip(), "tw@alerts.example", ["ops@example.org"], OUTBOX_ID)  # type: ignore[arg-type]
    assert msg["Message-ID"] == f"<{OUTBOX_ID}.tradewarden@alerts.example>"
    assert msg["Message-ID"] == message_id(OUTBOX_ID, "tw@alerts.example")
    assert msg["X-Tradewarden-Outbox-Id"] == OUTBOX_ID
    assert msg["Subject"] == "[tradewarden CRITICAL] Breaker tripped: daily_loss on trend-btc"
    plain = msg.get_body(("plain",)).get_content()
    page = msg.get_body(("html",)).get_content()
    for part in (plain, page):
        assert "5.20% vs threshold 5.00%" in part
        assert "breaker-tripped.md" in part
        assert "tradewarden reset --reason" in part
    assert "<table" in page and "&quot;reviewed daily_loss" in page


def test_sms_is_one_short_message_with_a_reference() -> None:
    text = sms_text(trip(), OUTBOX_ID)  # type: ignore[arg-type]
    assert len(text) <= SMS_MAX and text.isascii()
    assert text.startswith("TW CRITICAL: Breaker tripped") and text.endswith("ref 01234567")
    long = cat.system_error("x" * 300, "y")
    assert len(sms_text(long, OUTBOX_ID)) == SMS_MAX


def test_console_channel_prints_one_line_and_appends_json(tmp_path: Path) -> None:
    out = io.StringIO()
    ch = ConsoleChannel(tmp_path, stream=out)
    ch.send(trip(), OUTBOX_ID)  # type: ignore[arg-type]
    ch.send(cat.bot_started("b"), "id-2")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "[CRITICAL] Breaker tripped" in lines[0]
    assert "5.20% vs threshold 5.00%" in lines[0] and "reset: tradewarden reset" in lines[0]
    records = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [r["outbox_id"] for r in records] == [OUTBOX_ID, "id-2"]
    assert records[0]["severity"] == "critical" and records[1]["kind"] == "bot_started"
