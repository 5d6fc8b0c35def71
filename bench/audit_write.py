"""Audit write benchmark (issue 6): what the hash chain adds to an audited action.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cd_bench_audit .venv/bin/python -m bench.audit_write

Three versions of one small action, each its own committed transaction, run interleaved so drift hits all
alike: "action only" (UPDATE one department row, no audit), "plain audit insert" (the action plus an
AuditEvent INSERT without the chain: the audit write before issue 6) and "record()" (the action plus
audit.services.record(): lock the chain head, hash, insert, move the head). The organisation's chain is
first grown to `--prefill` events. Then `--threads` writers (Python threads in this process, sharing the GIL)
or `--processes` writers (separate processes, each with its own connection, like gunicorn and Celery
workers) run the same actions at once in ONE organisation (each on its own department row), where record()
queues on the chain head lock. Several counts at once: `--processes 1,4,8`.
Target: record() adds at most 2 ms p95 to the action. Plain inserts go to a separate organisation,
so the benchmark organisation's chain still verifies (`manage.py verify_audit --org bench-audit`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import threading
import time

from bench import common

TARGET_ADDED_MS = 2.0


def _organisation(slug: str, departments: int):
    from accounts import services
    from accounts.models import Department, Organisation
    from audit.context import ActionContext, acting

    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        with acting(ActionContext(system_actor="system: bench")):
            organisation = services.organisation_create(
                name=slug.title(), slug=slug, two_factor_policy="optional", department_names=[]
            )
    names = [f"Bench {i}" for i in range(departments)]
    existing = set(Department.objects.filter(organisation=organisation, name__in=names).values_list("name", flat=True))
    Department.objects.bulk_create(
        [Department(organisation=organisation, name=name) for name in names if name not in existing]
    )
    ids = list(
        Department.objects.filter(organisation=organisation, name__in=names)
        .order_by("name")
        .values_list("pk", flat=True)
    )
    return organisation, ids


def _actions(organisation_id: int, plain_organisation_id: int):
    from django.db import transaction

    from accounts.models import Department
    from audit.context import ActionContext, acting
    from audit.models import AuditEvent, EventType
    from audit.services import record

    # Department names are unique per organisation: the process id keeps writer processes (and later runs) apart.
    prefix = f"{os.getpid()}."
    numbers = iter(range(10**9))

    class Counter:
        def __next__(self) -> str:
            return f"{prefix}{next(numbers)}"

    counter = Counter()

    def action_only(department_id: int) -> None:
        with transaction.atomic():
            Department.objects.filter(pk=department_id).update(name=f"Bench x{next(counter)}")

    def plain(department_id: int) -> None:
        n = next(counter)
        with transaction.atomic():
            Department.objects.filter(pk=department_id).update(name=f"Bench x{n}")
            AuditEvent.objects.create(
                organisation_id=plain_organisation_id,
                actor_label="system: bench",
                event_type=EventType.DEPARTMENT_RENAMED,
                target_type="accounts.department",
                target_id=str(department_id),
                target_repr=f"Bench x{n}",
                changes={"name": {"from": "before", "to": f"Bench x{n}"}},
                request_id="0" * 32,
                ip="192.0.2.7",
                user_agent="bench",
            )

    def chained(department_id: int) -> None:
        n = next(counter)
        with acting(
            ActionContext(request_id="0" * 32, ip="192.0.2.7", user_agent="bench", system_actor="system: bench")
        ):
            with transaction.atomic():
                Department.objects.filter(pk=department_id).update(name=f"Bench x{n}")
                record(
                    organisation=organisation_id,
                    event_type=EventType.DEPARTMENT_RENAMED,
                    department=department_id,
                    target_repr=f"Bench x{n}",
                    changes={"name": {"from": "before", "to": f"Bench x{n}"}},
                )

    return {"action only": action_only, "plain audit insert": plain, "record() with the chain": chained}


def _interleaved(actions: dict, department_id: int, n: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for call in actions.values():  # warm-up
        for _ in range(20):
            call(department_id)
    for _ in range(n):
        for name, call in actions.items():
            start = time.perf_counter()
            call(department_id)
            samples[name].append((time.perf_counter() - start) * 1000)
    return samples


def _timed_writer(call, department_id: int, n: int, barrier) -> list[float]:
    """One writer: warm up, wait for the others, then time n actions."""
    for _ in range(10):
        call(department_id)
    barrier.wait()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call(department_id)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _concurrent(actions: dict, department_ids: list[int], n: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Threads of this process: one GIL for all writers (and the benchmark's own timing)."""
    from django.db import connection

    samples: dict[str, list[float]] = {}
    rates: dict[str, float] = {}
    for name, call in actions.items():
        per_thread: list[list[float]] = [[] for _ in department_ids]
        barrier = threading.Barrier(len(department_ids) + 1)

        def work(index: int, call=call, barrier=barrier, per_thread=per_thread) -> None:
            try:
                per_thread[index] = _timed_writer(call, department_ids[index], n, barrier)
            finally:
                connection.close()

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(department_ids))]
        for thread in threads:
            thread.start()
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        samples[name] = [s for part in per_thread for s in part]
        rates[name] = len(samples[name]) / elapsed
    return samples, rates


def _process_writer(name: str, ids: tuple[int, int], department_id: int, n: int, barrier, results) -> None:
    from django.db import connection

    try:
        # Built here: each process numbers its own department names.
        call = _actions(*ids)[name]
        results.put(_timed_writer(call, department_id, n, barrier))
    except BaseException as error:
        barrier.abort()
        results.put(repr(error))
        raise
    finally:
        connection.close()


def _concurrent_processes(
    names: list[str], ids: tuple[int, int], department_ids: list[int], n: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Forked processes, each with its own database connection, as gunicorn and Celery workers run."""
    from django.db import connections

    fork = multiprocessing.get_context("fork")
    samples: dict[str, list[float]] = {}
    rates: dict[str, float] = {}
    for name in names:
        # A forked child must not share the parent's socket to PostgreSQL.
        connections.close_all()
        barrier = fork.Barrier(len(department_ids) + 1)
        results = fork.Queue()
        processes = [
            fork.Process(target=_process_writer, args=(name, ids, department_id, n, barrier, results))
            for department_id in department_ids
        ]
        for process in processes:
            process.start()
        barrier.wait(timeout=120)
        start = time.perf_counter()
        parts = [results.get(timeout=600) for _ in processes]
        elapsed = time.perf_counter() - start
        for process in processes:
            process.join()
        failed = [part for part in parts if isinstance(part, str)]
        if failed:
            raise RuntimeError(f"{name}: a writer process failed: {failed[0]}")
        samples[name] = [s for part in parts for s in part]
        rates[name] = len(samples[name]) / elapsed
    return samples, rates


def _prefill(organisation_id: int, events: int) -> int:
    from django.db import transaction

    from audit.models import AuditChainHead, EventType
    from audit.services import record

    head = AuditChainHead.objects.filter(organisation_id=organisation_id).first()
    have = head.sequence if head else 0
    for i in range(max(0, events - have)):
        with transaction.atomic():
            record(organisation=organisation_id, event_type=EventType.ORGANISATION_SETTINGS_CHANGED, changes={"i": i})
    return max(have, events)


def _added(t: common.Timing, base: common.Timing) -> str:
    return f"{t.p50 - base.p50:+.2f} / {t.p95 - base.p95:+.2f}"


def _report(title: str, timings: list[common.Timing], rates: dict[str, float] | None = None) -> str:
    action, plain, chained = timings
    lines = [
        f"#### {title}",
        "",
        "| Version | p50 ms | p95 ms | max ms | added vs action only, p50 / p95 ms | added vs plain insert, p50 / p95 ms |"
        + (" actions/s |" if rates else ""),
        "|---|---:|---:|---:|---:|---:|" + ("---:|" if rates else ""),
    ]
    for t in timings:
        row = (
            f"| {t.name} | {t.p50:.2f} | {t.p95:.2f} | {max(t.samples_ms):.2f} | "
            f"{'' if t is action else _added(t, action)} | {_added(t, plain) if t is chained else ''} |"
        )
        if rates:
            row += f" {rates[t.name]:.0f} |"
        lines.append(row)
    added = chained.p95 - action.p95
    verdict = "ok" if added <= TARGET_ADDED_MS else "OVER"
    lines += ["", f"record() adds {added:.2f} ms at p95 to the action (target {TARGET_ADDED_MS:g} ms): {verdict}."]
    return "\n".join(lines)


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help="timed actions per version (one writer); 0 skips")
    parser.add_argument("--prefill", type=int, default=20000, help="events in the organisation's chain first")
    parser.add_argument(
        "--threads", type=_counts, default=None, help="concurrent writer threads in one organisation, e.g. 4 or 1,4,8"
    )
    parser.add_argument(
        "--processes", type=_counts, default=[], help="concurrent writer processes in one organisation, e.g. 1,4,8"
    )
    parser.add_argument("--concurrent-iterations", type=int, default=500, help="timed actions per writer")
    args = parser.parse_args()
    threads = args.threads if args.threads is not None else ([] if args.processes else [4])

    url = common.setup_django()
    common.migrate()
    writers = max([1, *threads, *args.processes])
    organisation, departments = _organisation("bench-audit", writers)
    plain_organisation, _ = _organisation("bench-audit-plain", 0)
    chain_length = _prefill(organisation.pk, args.prefill)
    ids = (organisation.pk, plain_organisation.pk)
    actions = _actions(*ids)

    print(f"Machine: {common.machine()}")
    print(f"Database: {url.rsplit('/', 1)[-1]}; chain of {chain_length:,} events before the run")
    print(f"Load average (1 / 5 / 15 min) at the start: {_load()}\n")
    if args.iterations:
        single = _interleaved(actions, departments[0], args.iterations)
        single_timings = [common.Timing(name, s) for name, s in single.items()]
        print(_report(f"One writer, {args.iterations} actions per version (interleaved)", single_timings))
        print()
    runs = [("threads", count) for count in threads] + [("processes", count) for count in args.processes]
    for kind, count in runs:
        if kind == "threads":
            many, rates = _concurrent(actions, departments[:count], args.concurrent_iterations)
        else:
            many, rates = _concurrent_processes(list(actions), ids, departments[:count], args.concurrent_iterations)
        many_timings = [common.Timing(name, s) for name, s in many.items()]
        print(
            _report(
                f"{count} writer {kind} at once in one organisation, {args.concurrent_iterations} actions each",
                many_timings,
                rates,
            )
        )
        print()
    print(f"Load average (1 / 5 / 15 min) at the end: {_load()}")


if __name__ == "__main__":
    main()
