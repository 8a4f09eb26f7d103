"""The shared database schema (SQLAlchemy 2 Core). Alembic migrations in ``shared/migrations`` create it.

Ownership (one writing process per table, see docs/architecture.md):
monitor — heartbeats(own row), account_snapshots, positions, executions, cycles, cycle_legs, decisions,
risk_state, commands.status (it carries out halt / resume);
scanner — scans, opportunities; executor — orders, order_legs, order_events, fills, intents.status;
dashboard (or the monitor for a management rule) — intents and intent_legs (creates), commands (creates),
intents.status proposed → approved | cancelled and decisions.status pending → approved | rejected (the
user's click on a management decision);
any process — alerts and alert_deliveries (outbox), breakers, its own heartbeat row.

Conventions: timestamps are ISO-8601 UTC strings (``2026-11-21T14:30:00.123456+00:00``); money is
in account currency (USD); prices are dollars per share; ``collateral`` and ``avg_cost`` of options are
dollars per contract (× multiplier) as IB reports them; deltas are per share, signed.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

heartbeats = Table(
    "heartbeats",
    metadata,
    Column("component", String(32), primary_key=True),  # monitor | scanner | executor | dashboard
    Column("pid", Integer, nullable=False),
    Column("client_id", Integer),  # TWS client id held, NULL when not connected / dashboard
    Column("state", String(24), nullable=False),  # starting|waiting|connected|disconnected|running|stopped
    Column("detail", Text, nullable=False, default=""),
    Column("started_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

account_snapshots = Table(
    "account_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", String(40), nullable=False, index=True),
    Column("account", String(32), nullable=False),
    Column("net_liquidation", Float),
    Column("total_cash", Float),
    Column("buying_power", Float),
    Column("excess_liquidity", Float),
    Column("available_funds", Float),
    Column("maint_margin", Float),
    Column("unrealized_pnl", Float),
    Column("realized_pnl", Float),
)

positions = Table(
    "positions",
    metadata,
    Column("con_id", Integer, primary_key=True),
    Column("account", String(32), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("sec_type", String(8), nullable=False),  # STK | OPT
    Column("local_symbol", String(32), nullable=False),
    Column("expiry", String(8)),  # YYYYMMDD, options only
    Column("strike", Float),
    Column("right", String(1)),  # P | C
    Column("multiplier", Integer, nullable=False, default=1),
    Column("quantity", Float, nullable=False),  # negative = short
    Column("avg_cost", Float),  # dollars per share (STK) or per contract (OPT), as IB reports
    Column("market_price", Float),  # dollars per share
    Column("market_value", Float),  # dollars
    Column("unrealized_pnl", Float),
    Column("realized_pnl", Float),
    Column("delta", Float),  # per share of one contract/share, signed (put ≈ -0.25)
    Column("position_delta", Float),  # share-equivalent: delta × quantity × multiplier
    Column("updated_at", String(40), nullable=False),
    Column("underlying_price", Float),  # dollars per share of the underlying (options: from the greeks)
)

scans = Table(
    "scans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("status", String(16), nullable=False),  # running | done | failed | cancelled
    Column("symbols", Integer, nullable=False, default=0),
    Column("contracts_checked", Integer, nullable=False, default=0),
    Column("candidates", Integer, nullable=False, default=0),
    Column("detail", Text, nullable=False, default=""),
    Column("preview", Boolean, nullable=False, default=False),  # run outside regular hours: quotes stale
    Column("trigger", String(16), nullable=False, default="schedule"),  # schedule | start | scan_now
    Column("progress", String(64), nullable=False, default=""),  # "symbol 3 of 13: KO" while running
)

# One row per symbol and right a scan looked at: what it read and which rule removed how many contracts.
scan_symbols = Table(
    "scan_symbols",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scan_id", Integer, ForeignKey("scans.id"), nullable=False, index=True),
    Column("symbol", String(16), nullable=False),
    Column("right", String(1), nullable=False),  # P | C
    Column("expiries", Integer, nullable=False, default=0),  # expiries in the DTE window read
    Column("contracts_checked", Integer, nullable=False, default=0),
    Column("candidates", Integer, nullable=False, default=0),  # passed every rule
    Column("removed", Text, nullable=False, default=""),  # "delta 14, earnings 6, iv_rank 9" (rule → count)
    Column("note", Text, nullable=False, default=""),  # why the symbol has no candidate, in one line
    # history rules' figures (fractions; IV rank 0..1 over 52 weeks; HV 20-day close-to-close, annualized)
    Column("iv", Float),
    Column("iv_rank", Float),
    Column("hv", Float),
    Column("iv_hv_ratio", Float),
    Column("next_earnings", String(10)),  # YYYY-MM-DD
    Column("sma200", Float),  # dollars per share
    Column("rsi14", Float),  # 0..100
)

# Daily bars the scanner caches (reqHistoricalData, refreshed once a day): closes of the underlying
# (TRADES), its 30-day implied vol (OPTION_IMPLIED_VOLATILITY) and historical vol (HISTORICAL_VOLATILITY).
daily_bars = Table(
    "daily_bars",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column(
        "what", String(32), primary_key=True
    ),  # TRADES | OPTION_IMPLIED_VOLATILITY | HISTORICAL_VOLATILITY
    Column("date", String(10), primary_key=True),  # YYYY-MM-DD
    Column("close", Float, nullable=False),  # dollars per share, or a fraction for the volatilities
)

bar_fetches = Table(
    "bar_fetches",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("what", String(32), primary_key=True),
    Column("trading_day", String(10), nullable=False),  # the US/Eastern day the bars were last fetched
    Column("fetched_at", String(40), nullable=False),
    Column("bars", Integer, nullable=False, default=0),
)

earnings_dates = Table(
    "earnings_dates",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("date", String(10), primary_key=True),  # YYYY-MM-DD report date
    Column("source", String(16), nullable=False),  # file | yfinance
    Column("fetched_at", String(40), nullable=False),
)

opportunities = Table(
    "opportunities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scan_id", Integer, ForeignKey("scans.id"), nullable=False, index=True),
    Column("strategy", String(8), nullable=False),  # CSP | CC (shared.trade.Strategy)
    Column("symbol", String(16), nullable=False),
    Column("con_id", Integer, nullable=False),
    Column("local_symbol", String(32), nullable=False),
    Column("expiry", String(8), nullable=False),
    Column("strike", Float, nullable=False),
    Column("right", String(1), nullable=False),
    Column("dte", Integer, nullable=False),  # calendar days to expiry
    Column("underlying_price", Float, nullable=False),
    Column("bid", Float, nullable=False),
    Column("ask", Float, nullable=False),
    Column("mid", Float, nullable=False),  # = credit per share
    Column("spread_pct", Float, nullable=False),  # (ask-bid)/mid, fraction
    Column("delta", Float, nullable=False),  # signed, per share
    Column("iv", Float),  # fraction
    Column("open_interest", Integer, nullable=False),
    Column("credit", Float, nullable=False),  # dollars per share
    # dollars per contract: CSP strike × multiplier; CC the shares' adjusted cost basis × multiplier
    Column("collateral", Float, nullable=False),
    # fraction = credit/strike × 365/dte (CSP); credit/underlying price × 365/dte (CC)
    Column("annualized_return", Float, nullable=False),
    Column("prob_otm", Float, nullable=False),  # ≈ 1 - |delta|
    Column("liquidity_factor", Float, nullable=False),  # 0..1
    Column("score", Float, nullable=False),
    Column("rank", Integer, nullable=False),  # 1 = best within its scan
    Column("created_at", String(40), nullable=False),
    Column("cost_basis", Float),  # CC: the cycle's adjusted cost basis, dollars per share
    Column("max_contracts", Integer),  # CC: contracts the uncovered shares cover (lots of 100)
    # history rules (wheel-rules "Entry screening"): fractions, IV rank 0..1 over 52 weeks
    Column("iv_rank", Float),
    Column("iv_hv_ratio", Float),
    Column("hv", Float),
    Column("next_earnings", String(10)),  # YYYY-MM-DD, the symbol's next report date known
    Column("sma200", Float),  # dollars per share
    Column("rsi14", Float),  # 0..100
)

intents = Table(
    "intents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),  # becomes the order's orderRef
    Column("source", String(16), nullable=False),  # dashboard | monitor
    Column("opportunity_id", Integer, ForeignKey("opportunities.id")),
    Column("kind", String(16), nullable=False),  # sell_put | sell_call | buy_to_close | roll (IntentKind)
    Column("action", String(4), nullable=False),  # BUY | SELL
    Column("sec_type", String(8), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("con_id", Integer, nullable=False),
    Column("local_symbol", String(32), nullable=False),
    Column("expiry", String(8)),
    Column("strike", Float),
    Column("right", String(1)),
    Column("quantity", Integer, nullable=False),  # contracts or shares, positive
    Column("limit_floor", Float),  # dollars per share: min credit (SELL) / max debit (BUY)
    # approved → placing → working → filled | cancelled | rejected | failed (IntentStatus)
    Column("status", String(16), nullable=False, index=True),
    Column("status_reason", Text, nullable=False, default=""),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("intent_key", String(64), nullable=False, unique=True),  # = orderRef; one order per intent
    Column("order_id", Integer),  # IB orderId (per client)
    Column("perm_id", Integer),
    Column("client_id", Integer),
    Column("account", String(32)),
    Column("action", String(4), nullable=False),
    Column("order_type", String(8), nullable=False),  # LMT
    Column("quantity", Float, nullable=False),
    Column("limit_price", Float),  # dollars per share
    Column("con_id", Integer, nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("local_symbol", String(32), nullable=False),
    Column("status", String(24), nullable=False),  # IB status: PendingSubmit, Submitted, Filled, Cancelled …
    Column("filled", Float, nullable=False, default=0),
    Column("remaining", Float),
    Column("avg_fill_price", Float),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)


def _leg_columns() -> list[Column[object]]:
    """The columns of one order leg (shared by ``intent_legs`` and ``order_legs``)."""
    return [
        Column("leg_no", Integer, nullable=False),  # 1, 2 … in the order's combo
        Column("con_id", Integer, nullable=False),
        Column("action", String(4), nullable=False),  # BUY | SELL
        Column("ratio", Integer, nullable=False, default=1),  # units per order unit
        Column("sec_type", String(8), nullable=False),
        Column("symbol", String(16), nullable=False),
        Column("local_symbol", String(32), nullable=False),
        Column("expiry", String(8)),
        Column("strike", Float),
        Column("right", String(1)),
    ]


intent_legs = Table(
    "intent_legs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("intent_key", String(64), ForeignKey("intents.key"), nullable=False, index=True),
    *_leg_columns(),
    UniqueConstraint("intent_key", "leg_no", name="uq_intent_leg"),
)

order_legs = Table(
    "order_legs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("intent_key", String(64), ForeignKey("orders.intent_key"), nullable=False, index=True),
    *_leg_columns(),
    UniqueConstraint("intent_key", "leg_no", name="uq_order_leg"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("intent_key", String(64), nullable=False, index=True),
    Column("ts", String(40), nullable=False),
    Column("status", String(24), nullable=False),
    Column("filled", Float),
    Column("remaining", Float),
    Column("message", Text, nullable=False, default=""),
)

fills = Table(
    "fills",
    metadata,
    Column("exec_id", String(64), primary_key=True),  # recorded once per execId
    Column("intent_key", String(64), nullable=False, index=True),
    Column("order_id", Integer),
    Column("perm_id", Integer),
    Column("con_id", Integer, nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("local_symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),  # BOT | SLD (IB's execution side)
    Column("quantity", Float, nullable=False),
    Column("price", Float, nullable=False),  # dollars per share
    Column("time", String(40), nullable=False),
    Column("commission", Float),  # dollars, NULL until the commission report arrives
    Column("currency", String(8)),
    Column("realized_pnl", Float),
)

executions = Table(
    "executions",
    metadata,
    Column("exec_id", String(64), primary_key=True),
    Column("source", String(12), nullable=False),  # tws | expiry | inferred | opening (ExecutionSource)
    Column("account", String(32), nullable=False, default=""),
    Column("time", String(40), nullable=False, index=True),
    Column("symbol", String(16), nullable=False, index=True),
    Column("sec_type", String(8), nullable=False),  # STK | OPT
    Column("con_id", Integer, nullable=False),
    Column("local_symbol", String(32), nullable=False),
    Column("expiry", String(8)),
    Column("strike", Float),
    Column("right", String(1)),
    Column("multiplier", Integer, nullable=False, default=1),
    Column("side", String(4), nullable=False),  # BOT | SLD
    Column("quantity", Float, nullable=False),  # contracts or shares, positive
    Column("price", Float, nullable=False),  # dollars per share
    Column("commission", Float),  # dollars; NULL until IB's commission report arrives
    Column("realized_pnl", Float),  # dollars, as IB reports it
    Column("order_ref", String(64), nullable=False, default=""),  # empty for assignment/exercise
    Column("order_id", Integer, nullable=False, default=0),
    Column("perm_id", Integer, nullable=False, default=0),
    Column("client_id", Integer, nullable=False, default=0),
    Column("recorded_at", String(40), nullable=False),
)

cycles = Table(
    "cycles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("symbol", String(16), nullable=False, index=True),
    Column("seq", Integer, nullable=False),  # 1 = the symbol's first cycle
    Column("stage", String(12), nullable=False),  # put | shares | shares+call | closed (CycleStage)
    Column("started_at", String(40), nullable=False),
    Column("closed_at", String(40)),
    Column("shares", Float, nullable=False),  # held now
    Column("assigned_shares", Float, nullable=False),  # acquired in the cycle (assignment, opening, buys)
    Column("assignment_price", Float),  # dollars per share (average)
    Column("assignment_cost", Float, nullable=False),  # dollars
    Column("premiums", Float, nullable=False),  # dollars, net credits
    Column("commissions", Float, nullable=False),  # dollars
    Column("stock_pnl", Float, nullable=False),  # dollars
    Column("realized_pnl", Float, nullable=False),  # dollars
    Column("adjusted_cost_basis", Float),  # dollars per share
    Column("collateral", Float, nullable=False),  # dollars
    Column("days_open", Integer, nullable=False),  # calendar days
    Column("annualized_return", Float),  # fraction
    Column("preexisting", Boolean, nullable=False, default=False),  # began with shares held before
    Column("as_of", String(40), nullable=False),  # TWS's clock when the figures were computed (UTC)
    Column("updated_at", String(40), nullable=False),
    UniqueConstraint("symbol", "seq", name="uq_cycle_symbol_seq"),
)

cycle_legs = Table(
    "cycle_legs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cycle_id", Integer, ForeignKey("cycles.id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("kind", String(24), nullable=False),  # LegKind
    Column("exec_id", String(64), nullable=False),
    Column("time", String(40), nullable=False),
    Column("con_id", Integer, nullable=False),
    Column("local_symbol", String(32), nullable=False),
    Column("expiry", String(8)),
    Column("strike", Float),
    Column("right", String(1)),
    Column("quantity", Float, nullable=False),
    Column("price", Float, nullable=False),  # dollars per share
    Column("premium", Float, nullable=False),  # dollars, + credit / − debit (options)
    Column("commission", Float, nullable=False),  # dollars
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", String(40), nullable=False, index=True),
    Column("source", String(32), nullable=False),  # component that raised it
    Column("severity", String(10), nullable=False),  # info | warning | critical
    Column("category", String(32), nullable=False),  # fill | risk | connection | system …
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False, default=""),
    Column("dedup_key", String(200)),
    Column("repeat_count", Integer, nullable=False, default=1),  # coalesced repeats inside the window
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False),
    Column("channel", String(16), nullable=False),  # email | sms
    Column("status", String(16), nullable=False),  # pending | sending | sent
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
    Column("claimed_by", String(64)),
    Column("claimed_at", String(40)),
    Column("next_attempt_at", String(40), nullable=False),
    Column("sent_at", String(40)),
    UniqueConstraint("alert_id", "channel", name="uq_alert_channel"),
)
Index("ix_alert_deliveries_due", alert_deliveries.c.status, alert_deliveries.c.next_attempt_at)

breakers = Table(
    "breakers",
    metadata,
    Column("name", String(32), primary_key=True),  # email | sms
    Column("state", String(16), nullable=False),  # closed | open | half-open (pybreaker names)
    Column("fail_counter", Integer, nullable=False, default=0),
    Column("success_counter", Integer, nullable=False, default=0),
    Column("opened_at", String(40)),
    Column("updated_at", String(40), nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(16), nullable=False),  # ManagementRule
    Column("mode", String(8), nullable=False),  # RuleMode: alert | approve | auto
    Column("action", String(8), nullable=False),  # ManagementAction: close | roll | hold
    # pending | approved | alerted | rejected | filled | lapsed (DecisionStatus); open = pending, approved
    Column("status", String(12), nullable=False, index=True),
    Column("symbol", String(16), nullable=False),
    Column("con_id", Integer, nullable=False),  # the short option held
    Column("local_symbol", String(32), nullable=False),
    Column("right", String(1), nullable=False),
    Column("strike", Float, nullable=False),
    Column("expiry", String(8), nullable=False),
    Column("contracts", Integer, nullable=False),
    Column("credit", Float, nullable=False),  # dollars per share received when sold
    Column("mark", Float),  # dollars per share to close now (mid)
    Column("profit_fraction", Float),  # (credit − mark) / credit
    Column("dte", Integer, nullable=False),  # calendar days (TWS's clock)
    Column("delta", Float),  # per share, signed
    Column("underlying_price", Float),  # dollars per share
    Column("itm", Boolean, nullable=False, default=False),
    Column("limit_price", Float),  # dollars per share: a close's max debit, a roll's min net credit
    Column("new_con_id", Integer),  # a roll's new leg
    Column("new_local_symbol", String(32)),
    Column("new_expiry", String(8)),
    Column("new_strike", Float),
    Column("net_credit", Float),  # a roll's net credit per share when decided
    Column("reason", Text, nullable=False, default=""),
    Column("intent_key", String(64)),  # the intent it created (close, roll), NULL for an alert
    Column("decided_by", String(64), nullable=False, default=""),  # monitor | dashboard user who clicked
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)
Index(
    "uq_decision_open",
    decisions.c.con_id,
    decisions.c.rule,
    unique=True,
    sqlite_where=decisions.c.status.in_(["pending", "approved"]),
    postgresql_where=decisions.c.status.in_(["pending", "approved"]),
)

commands = Table(
    "commands",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(24), nullable=False),  # shared.trade.CommandKind
    Column("con_id", Integer),  # reject_opportunity: the contract hidden
    Column("opportunity_id", Integer),
    Column("expiry", String(8)),  # reject_opportunity: hidden until this expiry
    Column("intent_key", String(64)),  # cancel_order: the order (orderRef = intent key) to cancel
    Column("reason", Text, nullable=False, default=""),
    Column("actor", String(120), nullable=False),  # who: "dashboard 127.0.0.1" …
    Column("created_at", String(40), nullable=False, index=True),
    Column("status", String(12), nullable=False, default="pending"),  # pending | done
    Column("done_at", String(40)),
)

# The monitor's risk figures (one row). The user's halt switch is not here: it is the newest halt / resume
# row of ``commands``, effective the moment the dashboard writes it (shared.riskdata.halt_state).
risk_state = Table(
    "risk_state",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: one row
    Column("trading_day", String(10)),  # YYYY-MM-DD (US/Eastern, TWS's clock) the day figures belong to
    Column("day_start_net_liquidation", Float),  # dollars
    Column("net_liquidation", Float),  # dollars, at the last refresh
    Column("daily_pnl", Float),  # dollars: net liquidation − the day's first
    Column("daily_loss_halt", Boolean, nullable=False, default=False),  # halted by the daily-loss limit
    Column("daily_loss_reason", Text, nullable=False, default=""),
    Column("tws_time", String(40)),  # TWS's clock at the last refresh (UTC)
    Column("clock_offset_seconds", Float, nullable=False, default=0.0),  # TWS's clock − this machine's
    Column("updated_at", String(40), nullable=False),
)
