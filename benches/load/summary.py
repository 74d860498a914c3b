"""Medians and the DESIGN §7 ratios from benches/load/run.sh's raw.csv."""
import csv
import statistics as st
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
names = {
    "a": "(a) direct HTTPS upstream",
    "b": "(b) nginx, static header injection",
    "c": "(c) agent-vault proxy",
    "d": "(d) bare Pingora pass-through",
    "c-base": "(c) flat-cost baseline: 1 service, 1 token",
    "c-100k-tokens": "(c) + 100,000 tokens",
    "c-10k-services": "(c) + 100,000 tokens + 10,000 services",
    "c-minting": "(c) + minting 100 tokens/s",
}
med = {}
print("| case | conns | req/s median (min-max) | p50 ms | p99 ms | proxy CPU µs/req |")
print("|---|---|---|---|---|---|")
for case in names:
    for conns in ("64", "1"):
        rs = [r for r in rows if r["case"] == case and r["conns"] == conns]
        if not rs:
            continue
        rps = [float(r["rps"]) for r in rs]
        m = lambda k: st.median(float(r[k]) for r in rs)
        med[(case, conns)] = (st.median(rps), m("p50_ms"))
        cpu = "-" if case == "a" else f"{m('proxy_cpu_us_per_req'):.1f}"
        print(f"| {names[case]} | {conns} | {st.median(rps):.0f} ({min(rps):.0f}-{max(rps):.0f}) "
              f"| {m('p50_ms'):.3f} | {m('p99_ms'):.3f} | {cpu} |")
print()
g = med.get
def ratio(x, y, conns="64"):
    return g((x, conns))[0] / g((y, conns))[0] if g((x, conns)) and g((y, conns)) else float("nan")
print(f"- c=64 throughput (c)/(b) nginx = {ratio('c', 'b'):.2f} (target >= 1.0)")
print(f"- c=64 throughput (c)/(d) bare Pingora = {ratio('c', 'd'):.2f} (target >= 0.9)")
if g(("c", "1")) and g(("b", "1")) and g(("a", "1")):
    a, b, c = g(("a", "1"))[1], g(("b", "1"))[1], g(("c", "1"))[1]
    print(f"- c=1 median added latency over direct: (c) {c - a:+.3f} ms, nginx {b - a:+.3f} ms (target: (c) <= nginx)")
for x in ("c-100k-tokens", "c-10k-services", "c-minting"):
    print(f"- {names[x]}: throughput vs baseline = {ratio(x, 'c-base'):.2f} (target >= 0.90)")
