"""``python -m tests.fakes.slack --port N``: run the fake Slack in the foreground."""

from __future__ import annotations

import argparse

from tests.fakes.slack.server import DEFAULT_TOKEN, DEFAULT_WEBHOOK_PATH, FakeSlack


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.slack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="bot token to accept")
    parser.add_argument("--webhook-path", default=DEFAULT_WEBHOOK_PATH)
    args = parser.parse_args(argv)
    fake = FakeSlack(args.host, args.port, token=args.token, webhook_path=args.webhook_path)
    print(f"fake slack: Web API {fake.api_url}  webhook {fake.webhook_url}", flush=True)
    try:
        fake.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
