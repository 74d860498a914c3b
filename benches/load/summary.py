"""Medians and the DESIGN §7 ratios from benches/load/run.sh's raw.csv.

The VM's speed drifts by 2x or more between rounds, so every ratio is taken within a round
(cases run back to back) and the median over rounds is reported with its range: the drift
cancels in each ratio instead of deciding it.
"""
import csv
import statistics as st
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
names = {
    "a": "(a) direct HTTPS upstream",
    "b": "(b) nginx, static header injection",
    "c": "(c) agent-vault proxy",
    "d": "(d) bare Pingora pass-through",
    "e": "(e) agent-vault, log level info (a line per request)",
    "c-base": "(c) flat-cost baseline: 1 service, 1 token",
    "c-100k-tokens": "(c) + 100,000 tokens",
    "c-10k-services": "(c) + 100,000 tokens + 10,000 services",
    "c-minting": "(c) + minting 100 tokens/s",
}
FLAT = ("100k-tokens", "10k-services", "minting")


def cell(rnd, case, conns, key):
    for r in rows:
        if r["round"] == rnd and r["case"] == case and r["conns"] == conns:
            return float(r[key])
    return None


def per_round(f):
    """f(round) -> value or None, for every round present; median and range."""
    vals = [v for v in (f(rnd) for rnd in sorted({r["round"] for r in rows})) if v is not None]
    if not vals:
        return None
    return st.median(vals), min(vals), max(vals), len(vals)


def fmt(res, digits=2, signed=False):
    if res is None:
        return "n/a"
    m, lo, hi, n = res
    s = f"{{:{'+' if signed else ''}.{digits}f}}"
    return f"{s.format(m)} (range {s.format(lo)} to {s.format(hi)}, {n} rounds)"


def ratio(x, y, conns="64", key="rps", invert=False):
    def f(rnd):
        a, b = cell(rnd, x, conns, key), cell(rnd, y, conns, key)
        if not a or not b:
            return None
        return b / a if invert else a / b
    return per_round(f)


print("| case | conns | req/s median (min-max) | p50 ms | p99 ms | proxy CPU µs/req |")
print("|---|---|---|---|---|---|")
for case in names:
    for conns in ("64", "1"):
        rs = [r for r in rows if r["case"] == case and r["conns"] == conns]
        if not rs:
            continue
        rps = [float(r["rps"]) for r in rs]
        m = lambda k: st.median(float(r[k]) for r in rs)
        cpu = "-" if case == "a" else f"{m('proxy_cpu_us_per_req'):.1f}"
        print(f"| {names[case]} | {conns} | {st.median(rps):.0f} ({min(rps):.0f}-{max(rps):.0f}) "
              f"| {m('p50_ms'):.3f} | {m('p99_ms'):.3f} | {cpu} |")
print()
print("Ratios within each round (median over rounds):")
print(f"- c=64 throughput (c)/(b) nginx = {fmt(ratio('c', 'b'))} (target >= 1.0)")
print(f"- c=64 throughput (c)/(d) bare Pingora = {fmt(ratio('c', 'd'))} (target >= 0.9)")
print(f"- c=64 throughput with a log line per request, (e)/(c) = {fmt(ratio('e', 'c'))}")
print(f"- c=64 proxy CPU per request, (b)/(c) = {fmt(ratio('c', 'b', key='proxy_cpu_us_per_req', invert=True))}, "
      f"(d)/(c) = {fmt(ratio('c', 'd', key='proxy_cpu_us_per_req', invert=True))} (>= 1 means (c) is cheaper)")
added = lambda x: per_round(lambda rnd: None if cell(rnd, x, "1", "p50_ms") is None or cell(rnd, "a", "1", "p50_ms") is None
                            else cell(rnd, x, "1", "p50_ms") - cell(rnd, "a", "1", "p50_ms"))
print(f"- c=1 median added latency over direct, ms: (c) {fmt(added('c'), 3, True)}; "
      f"nginx {fmt(added('b'), 3, True)}; bare Pingora {fmt(added('d'), 3, True)} (target: (c) <= nginx)")
for x in FLAT:
    def f(rnd, x=x):
        c, d = cell(rnd, f"c-{x}", "64", "rps"), cell(rnd, f"d-{x}", "64", "rps")
        c0, d0 = cell(rnd, "c-base", "64", "rps"), cell(rnd, "d-base", "64", "rps")
        return None if not (c and d and c0 and d0) else (c / d) / (c0 / d0)
    print(f"- {names['c-' + x]}: throughput vs baseline, each against (d) measured beside it = "
          f"{fmt(per_round(f))} (target >= 0.90)")
