"""The bench's table: every target of issue 14 with its ratio to the floor of the same run."""

from __future__ import annotations

import textwrap

import psutil

from routing.selection import recheck_after
from service.config import WORKFLOW_CACHE_DEFAULT
from switchboard.bench import figures as f
from switchboard.bench.figures import BILLABLE, Report
from switchboard.bench.extra import REPLAYS
from switchboard.bench.runs import UNLOADED_RUNS, WARM_UP
from switchboard.bench.world import POLL


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _kb(n: float) -> str:
    return f"{n / 1024:.1f} kB"


def _aligned(rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                             for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, width=110, initial_indent="  ", subsequent_indent="    ")


def render(r: Report) -> list[str]:
    return [
        f"Switchboard bench: {r.conversations} conversations and {r.floor_count} floor workflows of each kind "
        f"at concurrency {r.concurrency}",
        f"Temporal dev server in memory (1 task-queue partition), worker in this process, SQLite store; "
        f"{psutil.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in psutil.getloadavg())} at the end",
        "", "Floor", *_floor_lines(r),
        "", "Targets (issue 14): each against the floor of this run", *_target_lines(r),
        "", "History of one conversation offered once, accepted and closed, by event type", *_type_lines(r),
        "", "Per rollover mode (one conversation each: offered, accepted, closed)", *_mode_lines(r),
        "", f"Transfers (one conversation, {r.transfers.hops} transfers inside the account, each accepted)",
        *_transfer_lines(r),
        "", "HTTP gateway (in-process ASGI beside the worker; a conversation per run: start, accept, close)",
        *_gateway_lines(r),
        "", "Legend", *_legend_lines(r),
        f"wall time {r.wall_time:.0f} s",
    ]


def _floor_lines(r: Report) -> list[str]:
    c = r.concurrency
    header = ("workflow", "unloaded p50", "p95", "p99", f"at c={c} p50", "p95", "p99", "workflows/s", "events",
              "actions", "server CPU", "worker CPU")
    return _aligned([header] + [
        (w.name, _ms(w.unloaded.p(50)), _ms(w.unloaded.p(95)), _ms(w.unloaded.p(99)), _ms(w.loaded.p(50)),
         _ms(w.loaded.p(95)), _ms(w.loaded.p(99)), f"{w.throughput:.1f}", f"{w.history.events:g}",
         f"{w.history.actions:g}", _ms(w.cpu.server), _ms(w.cpu.worker)) for w in (r.empty, r.one_activity)],
        right=set(range(1, 12)))


def _target_lines(r: Report) -> list[str]:
    one, routed, c, t = r.one_activity, r.routed, r.concurrency, r.transfers
    rows = [("figure", "value", "vs the floor (one-activity workflow)", "target", "")]

    def ratio(label: str, value: str, x: float, base: str, target: float, *, at_least: bool = False) -> None:
        ok = x >= target if at_least else x <= target
        rows.append((label, value, f"{x:.2f}x {base}", f"{'>=' if at_least else '<='} {target:g}x", _verdict(ok)))

    def bound(label: str, value: float, shown: str, target: float, unit: str = "", note: str = "") -> None:
        rows.append((label, shown, note, f"<= {target:g}{unit}", _verdict(value <= target)))

    ratio(f"conversations done/s, c={c}", f"{routed.throughput:.1f}/s", routed.throughput / one.throughput,
          f"({one.throughput:.1f}/s)", f.TARGET_THROUGHPUT, at_least=True)
    if r.on_file:
        ratio(f"  with the server's SQLite file, c={c}", f"{r.on_file.routed:.1f}/s",
              r.on_file.routed / r.on_file.floor, f"({r.on_file.floor:.1f}/s)", f.TARGET_THROUGHPUT, at_least=True)
    ratio("server CPU / conversation", _ms(routed.cpu.server), routed.cpu.server / one.cpu.server,
          f"({_ms(one.cpu.server)})", f.TARGET_CPU)
    ratio("worker CPU / conversation", _ms(routed.cpu.worker), routed.cpu.worker / one.cpu.worker,
          f"({_ms(one.cpu.worker)})", f.TARGET_CPU)
    ratio("start->offer p50, unloaded", _ms(routed.unloaded.p(50)), routed.unloaded.p(50) / one.unloaded.p(50),
          f"unloaded p50 ({_ms(one.unloaded.p(50))})", f.TARGET_OFFER_P50)
    ratio(f"start->offer p99, c={c}", _ms(routed.loaded.p(99)), routed.loaded.p(99) / one.loaded.p(99),
          f"p99 at c={c} ({_ms(one.loaded.p(99))})", f.TARGET_LOADED_P99)
    bound("history events / conversation", routed.history.events, f"{routed.history.events:g}", f.TARGET_EVENTS)
    bound("billable actions / conversation", routed.history.actions, f"{routed.history.actions:g}", f.TARGET_ACTIONS)
    rollover = next((m for m in r.modes if m.case.startswith("backup, window closes")), None)
    if rollover:
        bound("billable actions, backup rollover", rollover.history.actions, f"{rollover.history.actions:g}",
              f.TARGET_ROLLOVER_ACTIONS)
    per = (t.history.actions - routed.history.actions) / t.hops
    bound("billable actions / transfer", per, f"{per:.1f}", f.TARGET_TRANSFER_ACTIONS)
    if r.open:
        o = r.open
        bound(f"worker RSS, {o.count} open", o.rss_mb, f"{o.rss_mb:.0f} MB", f.TARGET_OPEN_RSS_MB, " MB",
              f"{WORKFLOW_CACHE_DEFAULT} cached (the default cache), the rest replay on their next task"
              if o.count > WORKFLOW_CACHE_DEFAULT else f"all cached (the default cache holds {WORKFLOW_CACHE_DEFAULT})")
        ratio(f"start->offer p50, {o.count} open", _ms(o.offer.p(50)), o.offer.p(50) / routed.unloaded.p(50),
              f"unloaded conversation ({_ms(routed.unloaded.p(50))})", f.TARGET_OPEN_P50)
        first = recheck_after(0).total_seconds() / 60
        rows.append((f"idle CPU, {o.count} queued", f"{o.idle_cpu.server * 100:.1f}% + {o.idle_cpu.worker * 100:.1f}%",
                     f"of a core, server + worker, {o.idle_seconds:g} s; nothing open: {o.idle_floor.server * 100:.1f}%"
                     f" + {o.idle_floor.worker * 100:.1f}% (first re-check after {first:g} min)", "", ""))
        bound("actions / 5 min, one queued (1st hour)", o.queued_actions_per_5min, f"{o.queued_actions_per_5min:.2f}",
              f.TARGET_QUEUED_ACTIONS_PER_5MIN)
    bound(f"replay of a run, {t.hops} transfers", t.replay_ms, f"{t.replay_ms:.0f} ms", f.TARGET_REPLAY_MS, " ms")
    rows.append(("history of one run (largest)", _kb(t.largest_run_bytes), f"{t.runs} runs",
                 f"<= {f.TARGET_RUN_BYTES / 1e6:g} MB", _verdict(t.largest_run_bytes <= f.TARGET_RUN_BYTES)))
    rows.append(("carried state (largest)", _kb(t.carried_bytes), "", f"<= {f.TARGET_CARRY_BYTES // 1024} kB",
                 _verdict(t.carried_bytes <= f.TARGET_CARRY_BYTES)))
    rows.append(("update result (accept, at the end)", _kb(t.update_bytes), f"state query {_kb(t.state_bytes)}",
                 "compact", ""))
    g = r.gateway
    ratio("gateway start p50", _ms(g.start_unloaded.p(50)), g.start_unloaded.p(50) / g.client_start.p(50),
          f"the client's start ({_ms(g.client_start.p(50))})", f.TARGET_GATEWAY)
    ratio("gateway accept p50", _ms(g.accept_unloaded.p(50)), g.accept_unloaded.p(50) / g.client_accept.p(50),
          f"the client's accept update ({_ms(g.client_accept.p(50))})", f.TARGET_GATEWAY)
    return _aligned(rows, right={1}) + _wrapped(
        f"accepts refused as early (hold row seen before the workflow had the offer): {routed.early_accepts} "
        f"of {routed.accepts} at c={c}, each retried after {POLL * 1000:g} ms; worker RSS {r.rss_after_run:.0f} MB "
        f"after the runs ({r.rss_after_floor:.0f} MB after the floor)")


def _type_lines(r: Report) -> list[str]:
    h = r.routed.history
    rows = [("event type", "per conversation", "billable")] + [
        (kind, f"{n:g}", "yes" if kind in BILLABLE else "") for kind, n in h.types.items()]
    return _aligned(rows, right={1})


def _mode_lines(r: Report) -> list[str]:
    return _aligned([("case", "mode", "handled by", "actions", "events")] + [
        (m.case, m.mode, m.handled_by, f"{m.history.actions:g}", f"{m.history.events:g}") for m in r.modes],
        right={3, 4})


def _transfer_lines(r: Report) -> list[str]:
    t, base = r.transfers, r.routed.history
    per = (t.history.actions - base.actions) / t.hops
    per_events = (t.history.events - base.events) / t.hops
    by_type = ", ".join(f"{kind} {n:g}" for kind, n in t.history.billable.items())
    return _aligned([("figure", "value"),
                     ("billable actions, whole conversation (all runs)", f"{t.history.actions:g}"),
                     ("billable actions / transfer (beyond one routed conversation)", f"{per:.1f}"),
                     ("history events / transfer", f"{per_events:.1f}"),
                     ("runs (continue-as-new)", f"{t.runs}")], right={1}) + _wrapped(f"actions by type: {by_type}")


def _gateway_lines(r: Report) -> list[str]:
    g, c = r.gateway, r.concurrency
    rows = [("request", "unloaded p50", "p95", "p99", f"at c={c} p50", "p95", "p99")]
    for name, unloaded, loaded in (("POST /conversations", g.start_unloaded, g.start_loaded),
                                   ("POST /conversations/{id}/accept", g.accept_unloaded, g.accept_loaded)):
        rows.append((name, *(_ms(unloaded.p(q)) for q in (50, 95, 99)), *(_ms(loaded.p(q)) for q in (50, 95, 99))))
    return _aligned(rows, right=set(range(1, 7))) + _wrapped(
        "start: token lookup (one query), directory check of account and skill (R1.3, one query), start (a "
        "describe only when the id is in use, R1.2); accept: token lookup, the update asking for the full view (R5.6: "
        "the workflow judges it; a state query only after a refusal). Timed from "
        "request to response. The gateway has a Temporal connection of its own, as a deployed one (no worker "
        "beside it: its starts are not eager); the client's calls, one at a time between the gateway's, are the "
        "same calls on that connection. Accepts answered 409 because the "
        f"workflow did not have the offer yet are retried and not timed ({g.early_accepts} at c={c}).")


def _legend_lines(r: Report) -> list[str]:
    c = r.concurrency
    return [line for text in (
        f"offer seen: the conversation's row in the holds table, polled every {POLL * 1000:g} ms on a read-only "
        "SQLite connection (what an agent workspace reads); start->offer runs from the start call to then.",
        "floor latency: start call -> workflow result.",
        "done: started, offered, accepted (update), closed (update), workflow completed (capacity released).",
        f"unloaded: one at a time, {UNLOADED_RUNS} runs after {WARM_UP} warm-ups (so p95 and p99 are the two "
        f"slowest); c={c}: {c} in flight over all the runs.",
        "CPU: user + system seconds of the dev server process and of this process (worker, clients and bench "
        f"together) over the c={c} run, divided by the workflows it completed; the conversations' worker CPU "
        f"leaves out the offer watch's reads ({_ms(r.routed.watch_cpu)} per conversation, measured on its "
        "thread: a workspace is another process, and the floor has none).",
        "billable actions: history events of the types " + ", ".join(BILLABLE) + ".",
        f"replay: the largest run of the transferred conversation on a warm replayer with the worker's runner, the "
        f"median of {REPLAYS} replays after one.",
    ) for line in _wrapped(text)]
