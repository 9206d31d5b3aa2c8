"""Names `make deadcode` (vulture over daemon/tradewarden) must not report as unused.

Every name here is used, but not by a call vulture can see in the package: a framework calls
it (typer, pydantic, http.server, python-binance, sqlite3, PEP 562), it is looked up by name,
it is a record's field, or it is a read-only view a test observes the daemon through. A name
that is merely dead does not belong here: delete it (and a test that tests nothing else).
Vulture matches names, not owners: `_.name` marks every `name` used.
"""

from typing import Any

_: Any = None

# --- the alert catalogue: alerts/notifier.py looks each constructor up by its kind
# (getattr(catalogue, name) for name in catalogue.RUNBOOKS)
_.system_error
_.key_permissions_changed
_.foreign_order
_.futures_margin_call
_.audit_chain_broken
_.large_position_opened
_.approaching_breaker
_.unusual_activity
_.low_balance
_.rebalance_proposed
_.bot_started
_.bot_stopped
_.rebalance_executed
_.daily_summary

# --- typer commands (registered by decorator)
_.list_
_.approvers_add
_.approvers_confirm
_.approvers_list
_.approvers_remove
_.arm
_._root
_.wallet_declare_cold
_.wallet_status
_.recovery_check
_.show_config
_.audit_verify
_.audit_anchor
_.audit_new_chain

# --- pydantic / pydantic-settings hooks (validators, sources) and their fixed signature
_._split_csv
_._upper_symbols
_._zones
_._bots
_._base_url
_._fernet_keys
_._profile_bounds
_._futures_limits
_.settings_customise_sources
_.env_settings
_.dotenv_settings
_.file_secret_settings
_.get_field_value

# --- http.server handler hooks (runtime/metrics.py)
_.do_GET
_.log_message

# --- python-binance Client overrides and its settings (exchange/client.py); requests' session
_._request
_.API_URL
_.MARGIN_API_URL
_.FUTURES_URL  # python-binance's futures base URL (exchange/futures_gateway.py)
_.REQUEST_RECVWINDOW
_.timestamp_offset
_.trust_env

# --- sqlite3 connection attribute
_.row_factory

# --- module __getattr__ (PEP 562, secrets/__init__.py lazy exports)
_.__getattr__

# --- enum members and record fields (read by value, by tests, or written for the record)
_.STAGING  # core/config.py Mode
_.S1  # core/config.py KlineInterval ("1s", read by value)
_.volume  # core/models.py Candle
_.delivered_at  # alerts/outbox.py OutboxRow
_.last_seq  # audit/chain.py VerifyResult
_.last_hash
_.KLINES  # exchange/endpoints.py: the endpoint weight table (tests/bench/bench_ratelimit.py)

# --- counters and queries the tests observe the daemon through (no caller in the daemon)
_.clients_built  # exchange/client.py: credential rotation rebuilds the client
_.runs  # exchange/reconcile.py
_.syncs  # exchange/timesync.py
_.reads  # secrets/aws.py
_.auth_errors  # secrets/credentials.py
_.rereads
_.total_delivered  # alerts/dispatcher.py DeliveryCounts
_.wait_stopped  # alerts/dispatcher.py: joins a worker that outlived stop()
_.suppressed_count  # alerts/outbox.py: the dedup counter
_.order_count  # state/store.py
_.integrity_check  # state/store.py: the chaos tests check the database after each crash
_.record_intent  # state/store.py: the order tracker rework (issue 18 item 3) decides
_.uninstall  # secrets/scrub.py: undo install() (tests)
_.accept_balances  # exchange/reconcile.py: a human accepts a balance mismatch (no CLI yet)

# --- the breaker interface (risk/breakers/base.py): a declaration each breaker makes; the
# interface tests and the package map read it
_.counter_scope

# --- compliance: typer commands; the packet's manifest check (an auditor's API, used by tests)
_.packet
_.accept_terms
_.verify_manifest

# --- a documented setting nothing reads yet (README table, runbooks/cold-wallet-rebalance.md)
_.transfer_approval_usd

# --- state/store.py schema version: read by the schema tests (what a store opened at/migrated)
_.migrated
_.schema_version

# --- order rows: in the daemon only the order tracker calls these store methods (a guard test
# checks it); the tests set up orders and fills with them
_.update_order
_.book_fill
# risk/engine.py: the benches clear the order-rate window between rounds
_.forget_recent_orders
# trading/order_tracker.py FillBooking.completed: what a booking did (the tracker's tests read it)
_.completed
# --- exchange/streams.py: the stream client's contract (STREAMS-CONTRACT.md, issue 19); the
# runtime's stream loop calls open_streams and drains the inbox, the event fields are the
# record's (what an executionReport / balance event said), read by the runtime and the tests
_.open_streams
_.drain
_.execution_type
_.event_ms
_.delta

# --- the futures user data stream (exchange/futures_stream.py): event records' fields the
# runtime reads, and the entry point the futures runtime opens the stream with (issue 20)
_.cross_wallet
_.entry_price
_.position_side
_.drain_all
_.open_futures_user_stream
_.orig_qty
_.cum_qty
_.realized_profit
