"""Memory under a long load: ``python -m bench.soak --clients 40 --minutes 10 --size 512``.

Starts the web app with its defaults (or uses ``--url`` and ``--pid``), paints one picture to warm it up, then
keeps N clients asking for pictures (bench.load's clients: loopback only, bounded in time) and prints the
resident memory of the supervisor and its workers every ``--every`` seconds. Before the load and after it,
one table says where each worker's memory is: the heap and other anonymous memory (Python objects, malloc
arenas, the libraries' buffers) against the pages of each shared library it has loaded.
"""
from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import psutil

from .load import run_load, tree_rss_mb
from .servers import web_app

TOP_LIBRARIES = 6  # the largest libraries by resident pages, each on its own row; the rest as one


def memory_by_kind(pid: int) -> Counter:
    """Resident MB of one process by what the pages hold, from /proc/PID/smaps."""
    kinds, kind = Counter(), "anonymous"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if not fields[0].endswith(":"):  # a mapping's header: address perms offset dev inode [path]
            path = fields[5] if len(fields) > 5 else ""
            kind = ("anonymous" if not path or path.startswith("[anon") or path == "[heap]"
                    else "stacks" if path.startswith("[stack") else Path(path).name)
        elif fields[0] == "Rss:":
            kinds[kind] += int(fields[1]) / 1024
    return kinds


def kinds_table(workers: list[psutil.Process], before: list[Counter], after: list[Counter]) -> list[str]:
    total = sum(before + after, Counter())
    libraries = [k for k, _ in total.most_common() if k not in ("anonymous", "stacks")][:TOP_LIBRARIES]
    rows = ["anonymous", "stacks", *libraries, "other libraries"]
    header = " | ".join(f"worker {w.pid}: before -> after" for w in workers)
    lines = [f"| resident MB | {header} |", "|---|" + "---:|" * len(workers)]
    def mb(kinds: Counter, row: str) -> float:
        return kinds[row] if row != "other libraries" else sum(v for k, v in kinds.items() if k not in rows)

    for row in rows:
        cells = " | ".join(f"{mb(b, row):.0f} -> {mb(a, row):.0f}" for b, a in zip(before, after))
        lines.append(f"| {row} | {cells} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", help="an already running web app (default: start one with its defaults)")
    parser.add_argument("--pid", type=int, help="with --url: the pid of its supervisor, whose memory is read")
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the load")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between memory readings")
    parser.add_argument("--size", type=int, default=512, help="picture size the clients ask for")
    parser.add_argument("--server-args", default="", help="more options for the started web app")
    args = parser.parse_args(argv)
    if args.url and not args.pid:
        parser.error("--url needs --pid (the supervisor's), to read its memory")

    server_args = ["--rate-limit", "none", *args.server_args.split()]  # all clients share one address
    with (nullcontext((args.url, None)) if args.url else web_app(server_args)) as (url, process):
        supervisor = psutil.Process(args.pid or process.pid)
        workers = supervisor.children(recursive=True)
        # every worker warm (the first pictures load lazily): a client per worker, since each client's
        # keep-alive connection reaches one
        run_load(url, len(workers), 3.0, 0.0, [args.size])
        before = [memory_by_kind(w.pid) for w in workers]
        print(f"{args.clients} clients asking for {args.size} px pictures for {args.minutes:g} min; server: "
              f"python -m webapp {args.server_args or '(defaults)'}\n")
        print("| minute | RSS MB, supervisor + workers |\n|---:|---:|")
        print(f"| 0.0 | {tree_rss_mb(supervisor):.0f} |", flush=True)
        result = {}
        load = threading.Thread(target=lambda: result.update(
            run_load(url, args.clients, 60 * args.minutes, 0.0, [args.size])))
        started = time.monotonic()
        load.start()
        while load.is_alive():
            load.join(args.every)
            print(f"| {(time.monotonic() - started) / 60:.1f} | {tree_rss_mb(supervisor):.0f} |", flush=True)
        after = [memory_by_kind(w.pid) for w in workers]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(result["statuses"].items(), key=str))
        print(f"\n{result['requests']} answers ({statuses}), {result['rps']:.1f}/s, p50 {result['p50']:.0f} ms\n")
        print("\n".join(kinds_table(workers, before, after)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
