"""Slack delivery with slack-sdk: a bot token (`chat.postMessage`) or an incoming webhook.

A 429 is honoured inline with slack-sdk's `RateLimitErrorRetryHandler` when Slack asks
for a short wait; a longer ``Retry-After`` is raised as `RateLimitedError` so the outbox waits
without holding the delivery thread. Any other failure raises `ChannelError`.
"""

from __future__ import annotations

import random
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryState,
)
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from tradewarden.alerts.blocks import build_blocks, colour_bar, fallback_text
from tradewarden.alerts.channel import ChannelError, RateLimitedError
from tradewarden.alerts.model import Alert
from tradewarden.alerts.redact import GLOBAL_REDACTOR, SDK_LOGGER, Redactor
from tradewarden.secrets.value import Secret

DEFAULT_TIMEOUT = 10
MAX_INLINE_WAIT = 5.0


def retry_after_seconds(headers: dict[str, Any] | None) -> float | None:
    """The ``Retry-After`` value (seconds) from a header dict whose values may be lists."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None


class BoundedRateLimitHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, but only for waits short enough to block the delivery thread."""

    def __init__(self, max_wait: float = MAX_INLINE_WAIT, max_retry_count: int = 1) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        assert response is not None  # the parent only retries on a 429 response
        wait = retry_after_seconds(response.headers)
        return wait is not None and wait <= self.max_wait


def _retry_handlers(max_inline_wait: float) -> list[RetryHandler]:
    return [
        ConnectionErrorRetryHandler(max_retry_count=1),
        BoundedRateLimitHandler(max_inline_wait),
    ]


def _rate_limited(status: int, headers: dict[str, Any] | None) -> RateLimitedError:
    wait = retry_after_seconds(headers)
    # Slack always sends Retry-After with a 429; if it is missing, wait a jittered minute
    return RateLimitedError(
        wait if wait is not None else 60 + random.uniform(0, 5), f"HTTP {status}"
    )


class SlackChannel:
    """Posts with a bot token to one channel via the Web API (`base_url` for a local fake)."""

    name = "slack"

    def __init__(
        self,
        token: Secret,
        channel: str,
        base_url: str = WebClient.BASE_URL,
        *,
        timeout: int = DEFAULT_TIMEOUT,
        max_inline_wait: float = MAX_INLINE_WAIT,
        redactor: Redactor = GLOBAL_REDACTOR,
    ) -> None:
        if not isinstance(token, Secret):
            raise TypeError("the Slack token must be a Secret")
        self._token = token
        self.channel = channel
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self.max_inline_wait = max_inline_wait
        redactor.add_secret(token)

    def send(self, alert: Alert, outbox_id: str = "") -> None:
        client = WebClient(
            token=self._token.reveal(),
            base_url=self.base_url,
            timeout=self.timeout,
            logger=SDK_LOGGER,
            retry_handlers=_retry_handlers(self.max_inline_wait),
        )
        metadata = {
            "event_type": "tradewarden_alert",
            "event_payload": {
                "outbox_id": outbox_id,
                "dedup_key": alert.dedup_key,
                "severity": alert.severity.value,
                "resolved": alert.resolved,
            },
        }
        try:
            client.chat_postMessage(
                channel=self.channel,
                text=fallback_text(alert),
                blocks=build_blocks(alert, outbox_id),
                attachments=colour_bar(alert),
                metadata=metadata,
                unfurl_links=False,
            )
        except SlackApiError as exc:
            status = exc.response.status_code
            if status == 429:
                raise _rate_limited(status, exc.response.headers) from None
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            raise ChannelError(f"Slack answered HTTP {status}: {error or 'not ok'}") from None


class SlackWebhookChannel:
    """Posts to an incoming-webhook URL (the URL itself is the secret)."""

    name = "slack"

    def __init__(
        self,
        url: Secret,
        *,
        timeout: int = DEFAULT_TIMEOUT,
        max_inline_wait: float = MAX_INLINE_WAIT,
        redactor: Redactor = GLOBAL_REDACTOR,
    ) -> None:
        if not isinstance(url, Secret):
            raise TypeError("the Slack webhook URL must be a Secret")
        self._url = url
        self.timeout = timeout
        self.max_inline_wait = max_inline_wait
        redactor.add_secret(url)

    def send(self, alert: Alert, outbox_id: str = "") -> None:
        client = WebhookClient(
            self._url.reveal(),
            timeout=self.timeout,
            logger=SDK_LOGGER,
            retry_handlers=_retry_handlers(self.max_inline_wait),
        )
        resp = client.send(
            text=fallback_text(alert),
            blocks=build_blocks(alert, outbox_id),
            attachments=colour_bar(alert),
            unfurl_links=False,
        )
        if resp.status_code == 429:
            raise _rate_limited(resp.status_code, resp.headers)
        if resp.status_code != 200:
            raise ChannelError(f"Slack webhook answered HTTP {resp.status_code}: {resp.body[:200]}")
