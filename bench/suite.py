"""``python -m bench``: the throughput suites, with peers measured in the same run.

Suites (``--suites``, all by default):

1. ``e2e``: ``egress audit`` on the standard mix (``bench.traffic.mix``): MB/s and Gbps of
   capture, packets/s, peak RSS; interpreter and signature start-up measured apart; the batch
   path against the per-packet path in-process.
2. ``stages``: reading, decode, flows and reassembly, application layer, extraction, detection,
   policy, records, accounting, evidence, audit log and finishing, each in MB/s of capture
   (``bench.stages``).
3. ``dense``: detection over a CSV with a person every ~80 bytes: MB/s and detection rate; and
   over ordinary text with sparse personal data; each with a pure-Python ``re`` peer (the
   ``detectors.baseline`` scanner) on the same bytes in the same run.
4. ``flows``: a million concurrent flows and a SYN flood (``bench.flowstress``) under the
   default flow limit: packets/s, peak RSS, evictions.
5. ``spine``: the issue's figure: decode + flow tracking + reassembly with a handler that only
   counts the delivered bytes (``bench.spine``), for a stream consumer that takes coalesced runs
   and for one that gets every segment on its own, beside ``tshark -q -z conv,tcp`` and a dpkt
   parsing loop on the same capture: MB/s, Gbps, packets/s, CPU seconds, peak RSS, ratios.
6. ``peers``: ``tshark --export-objects`` (http, imf, smb, ftp-data), a dpkt + ``re``
   pipeline, scapy and pyshark on a sub-sample (extrapolated per packet), the raw hyperscan scan
   rate over the payload bytes and ``cat`` of the file; ratios to egress.

Every figure is the median of ``--runs`` runs (3 by default) with the one-minute load average
beside it. The suite pins itself (and so every child) to ``--cpu`` (1 by default) so the
figures are per core. Results go to ``WORK/results.json`` and ``WORK/results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import dense as dense_suite
from bench import flowstress, peers
from bench.machine import describe
from bench.measure import Figure, Run, loadavg, rate, repeat, run_process, timed
from bench.stages import STAGES
from bench.traffic.mix import parse_size, write_mix
from detectors.catalogue import load_catalogue
from detectors.engine import DetectionEngine
from sensor.decode.batch import BLOCK_BYTES
from sensor.memory_settings import keep_freed_memory

QUICK = {
    "size": "3M",
    "flows": 3000,
    "dense_people": 2000,
    "sparse_bytes": 200_000,
    "scapy": 300,
    "pyshark": 30,
}


def _egress() -> list[str]:
    script = Path(sys.executable).with_name("egress")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sensor.cli"]


def _child_json(cmd: list[str], work: Path) -> Run:
    out = work / "child.json"
    run = run_process(cmd, out=out)
    run.extra = json.loads(out.read_text())
    return run


def _loop_runs(cmd: list[str], work: Path, runs: int, cpu: bool = False) -> list[Run]:
    """``runs`` runs of a child that prints JSON, each timed by the seconds of its own work loop
    (interpreter start-up excluded) and, with ``cpu``, its own CPU seconds."""
    out = []
    for _ in range(runs):
        run = _child_json(cmd, work)
        run.seconds = run.extra["seconds"]
        if cpu:
            run.cpu_seconds = run.extra["cpu_seconds"]
        out.append(run)
    return out


class Suite:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.work
        self.runs: int = args.runs
        self.results: dict[str, Any] = {"suites": {}, "commands": {}}

    # -- inputs -----------------------------------------------------------------------------

    def capture(self) -> Path:
        if self.args.capture is not None:
            path = Path(self.args.capture)
            self.results["capture"] = {"path": str(path), "bytes": path.stat().st_size}
            return path
        size = parse_size(self.args.size)
        path = self.work / f"mix-{self.args.size}-seed{self.args.seed}.pcap"
        if not path.exists():
            stats = write_mix(path, size, self.args.seed)
            print(f"generated {path}: {stats.bytes_written} bytes, {stats.packets} packets")
        self.results["capture"] = {
            "path": str(path),
            "bytes": path.stat().st_size,
            "command": f"python -m bench.traffic.mix --size {self.args.size} "
            f"--seed {self.args.seed} {path.name}",
        }
        return path

    def _case(self) -> Path:
        case = self.work / "case"
        shutil.rmtree(case, ignore_errors=True)
        return case

    # -- suites -----------------------------------------------------------------------------

    def e2e(self, cap: Path) -> dict[str, Any]:
        size = cap.stat().st_size
        startup = repeat(
            "startup",
            self.runs,
            lambda: run_process([*_egress(), "audit", "--out", str(self._case()), "--quiet"]),
        )
        cli = repeat(
            "egress audit",
            self.runs,
            lambda: run_process(
                [*_egress(), "audit", str(cap), "--out", str(self._case()), "--quiet"]
            ),
        )
        summary = json.loads((self.work / "case" / "summary.json").read_text())
        packets = summary["counts"]["packets"]
        # The two paths alternate run by run, so a change in the machine's load hits both alike.
        paths = {"batch": [], "per_packet": ["--block-bytes", "0"]}
        inproc: dict[str, Figure] = {name: Figure(name, []) for name in paths}
        for _ in range(self.runs):
            for name, flags in paths.items():
                cmd = [sys.executable, "-m", "bench.audit_run", str(cap), str(self.work / "case")]
                run = _child_json([*cmd, *flags], self.work)
                run.seconds = run.extra["seconds"]  # the audit itself, without start-up
                run.cpu_seconds = run.extra.get("cpu_seconds", run.cpu_seconds)
                inproc[name].runs.append(run)
        steady = cli.seconds - startup.seconds
        self.results["commands"]["e2e"] = f"egress audit {cap.name} --out CASE --quiet"
        return {
            "capture_bytes": size,
            "packets": packets,
            "counts": summary["counts"],
            "wall_seconds": cli.seconds,
            "startup_seconds": startup.seconds,
            "mb_per_s": rate(size, cli.seconds),
            "gbps": size * 8 / cli.seconds / 1e9,
            "packets_per_s": packets / cli.seconds,
            "mb_per_s_without_startup": rate(size, steady) if steady > 0 else None,
            "peak_rss_mb": cli.max_rss_mb,
            "load": cli.load,
            "cpu_seconds": cli.cpu_seconds,
            "mb_per_cpu_s": rate(size, cli.cpu_seconds),
            "in_process_mb_per_s": {k: rate(size, f.seconds) for k, f in inproc.items()},
            "in_process_mb_per_cpu_s": {k: rate(size, f.cpu_seconds) for k, f in inproc.items()},
            "batch_speedup": inproc["per_packet"].seconds / inproc["batch"].seconds,
            "batch_speedup_cpu": inproc["per_packet"].cpu_seconds / inproc["batch"].cpu_seconds,
            "figures": [f.as_dict() for f in (startup, cli, *inproc.values())],
        }

    def stages(self, cap: Path) -> dict[str, Any]:
        size = cap.stat().st_size
        cmd = [
            sys.executable,
            "-m",
            "bench.audit_run",
            str(cap),
            str(self.work / "case"),
            "--stages",
        ]
        runs = [_child_json(cmd, self.work) for _ in range(self.runs)]
        names = STAGES
        seconds = {n: statistics.median(r.extra["stages"][n] for r in runs) for n in names}
        total = statistics.median(r.extra["seconds"] for r in runs)
        return {
            "seconds": seconds,
            "mb_per_s": {n: rate(size, s) for n, s in seconds.items()},
            "total_mb_per_s": rate(size, total),
            "timer_calls": runs[0].extra["stages"]["calls"],
            "load": statistics.median(r.load for r in runs),
        }

    def dense(self) -> dict[str, Any]:
        keep_freed_memory()  # as `egress audit` and `egress scan` do (sensor/memory_settings.py)
        people = self.args.dense_people
        data = dense_suite.dense_csv(people)
        engine = DetectionEngine(load_catalogue((), frozenset()))
        figure = repeat(
            "dense", self.runs, lambda: timed(lambda: dense_suite.run_dense(data, people, engine))
        )
        last = figure.runs[-1].extra
        result = {k: v for k, v in last.items() if k != "seconds"}
        result.update(
            mb_per_s=rate(len(data), figure.seconds),
            mb_per_cpu_s=rate(len(data), figure.cpu_seconds),
            load=figure.load,
        )
        # the peer: a pure-Python ``re`` scanner over the same bytes, once (it is slow)
        scanner = dense_suite.ReScanner(engine.specs)
        peer = timed(lambda: dense_suite.run_peer(data, scanner))
        result["re_peer"] = {
            "mb_per_s": rate(len(data), peer.seconds),
            "mb_per_cpu_s": rate(len(data), peer.cpu_seconds),
            "found": peer.extra["found"],
        }
        result["ratio_to_re"] = peer.cpu_seconds / figure.cpu_seconds
        text = dense_suite.sparse_text(self.args.sparse_bytes)
        sparse = repeat(
            "sparse", self.runs, lambda: timed(lambda: dense_suite.run_engine(text, engine))
        )
        sparse_peer = timed(lambda: dense_suite.run_peer(text, scanner))
        result["sparse"] = {
            "bytes": len(text),
            "mb_per_s": rate(len(text), sparse.seconds),
            "mb_per_cpu_s": rate(len(text), sparse.cpu_seconds),
            "found": sparse.runs[-1].extra["found"],
            "load": sparse.load,
            "re_peer_mb_per_s": rate(len(text), sparse_peer.seconds),
            "re_peer_mb_per_cpu_s": rate(len(text), sparse_peer.cpu_seconds),
            "ratio_to_re": sparse_peer.cpu_seconds / sparse.cpu_seconds,
        }
        return result

    def flows(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        n = self.args.flows
        for name, build in (
            ("million_flows", flowstress.million_flows),
            ("syn_flood", flowstress.syn_flood),
        ):
            path = self.work / f"{name}-{n}.pcap"
            packets = build(path, n)
            cmd = [sys.executable, "-m", "bench.audit_run", str(path), str(self.work / "case")]
            runs = _loop_runs(cmd, self.work, self.runs)
            fig = Figure(name, runs)
            extra = runs[-1].extra
            out[name] = {
                "flows_offered": n,
                "packets": packets,
                "capture_bytes": path.stat().st_size,
                "packets_per_s": packets / fig.seconds,
                "mb_per_s": rate(path.stat().st_size, fig.seconds),
                "peak_rss_mb": fig.max_rss_mb,
                "flows_seen": extra["counts"]["flows"],
                "evicted": extra["evicted"],
                "load": fig.load,
            }
            if not self.args.keep:
                path.unlink()
        return out

    def spine(self, cap: Path) -> dict[str, Any]:
        size = cap.stat().st_size
        out: dict[str, Any] = {"capture_bytes": size}
        for handler in ("stream", "strict"):
            cmd = [sys.executable, "-m", "bench.spine", str(cap), "--handler", handler]
            cmd += ["--block-bytes", str(self.args.block_bytes)]
            runs = _loop_runs(cmd, self.work, self.runs, cpu=True)
            fig = Figure(f"spine {handler}", runs)
            extra = runs[-1].extra
            out[handler] = {
                "mb_per_s": rate(size, fig.seconds),
                "gbps": size * 8 / fig.seconds / 1e9,
                "mb_per_cpu_s": rate(size, fig.cpu_seconds),
                "packets_per_s": extra["packets"] / fig.seconds,
                "cpu_seconds": fig.cpu_seconds,
                "peak_rss_mb": fig.max_rss_mb,
                "packets": extra["packets"],
                "flows": extra["flows"],
                "delivered_bytes": extra["delivered_bytes"],
                "gap_bytes": extra["gap_bytes"],
                "batch": extra["batch"],
                "load": fig.load,
                "figure": fig.as_dict(),
            }
        if shutil.which("tshark"):
            fig = repeat(
                "tshark conv,tcp",
                self.runs,
                lambda: run_process(["tshark", "-r", str(cap), "-q", "-z", "conv,tcp"]),
            )
            out["tshark_conv_tcp"] = {
                "mb_per_s": rate(size, fig.seconds),
                "cpu_seconds": fig.cpu_seconds,
                "peak_rss_mb": fig.max_rss_mb,
                "load": fig.load,
                "command": "tshark -r CAP -q -z conv,tcp",
            }
        else:
            out["tshark_conv_tcp"] = {"skipped": "tshark not installed"}
        try:
            __import__("dpkt")
        except ImportError:
            out["dpkt_parse"] = {"skipped": "python package dpkt not installed"}
        else:
            packets = out["stream"]["packets"]
            limit = self.args.dpkt_packets
            sample = self.work / "sub-dpkt-spine.pcap"
            got = peers.subsample(cap, sample, limit) if limit < packets else packets
            target = sample if limit < packets else cap
            cmd = [sys.executable, "-m", "bench.peers", "dpkt-parse", str(target)]
            runs = _loop_runs(cmd, self.work, self.runs)
            fig = Figure("dpkt parse", runs)
            out["dpkt_parse"] = {
                "packets_measured": got,
                "extrapolated": got < packets,
                "mb_per_s": rate(size, fig.seconds / max(got, 1) * packets),
                "load": fig.load,
                "command": "python -m bench.peers dpkt-parse CAP",
            }
        for handler in ("stream", "strict"):
            for peer in ("tshark_conv_tcp", "dpkt_parse"):
                value = out[peer].get("mb_per_s")
                if value:
                    out[f"ratio {handler} / {peer}"] = round(out[handler]["mb_per_s"] / value, 3)
        self.results["commands"]["spine"] = "python -m bench.spine CAP --handler stream|strict"
        return out

    def peers(self, cap: Path) -> dict[str, Any]:
        size = cap.stat().st_size
        total_packets = self.results["suites"].get("e2e", {}).get("packets") or _count_packets(cap)
        out: dict[str, Any] = {}
        if shutil.which("tshark"):

            def tshark() -> Run:
                target = self.work / "tshark-objects"
                shutil.rmtree(target, ignore_errors=True)
                cmd = ["tshark", "-r", str(cap), "-q"]
                for proto in ("http", "imf", "smb", "ftp-data"):
                    (target / proto).mkdir(parents=True)
                    cmd += ["--export-objects", f"{proto},{target / proto}"]
                run = run_process(cmd)
                run.extra = {
                    p: len(list((target / p).iterdir())) for p in ("http", "imf", "smb", "ftp-data")
                }
                return run

            fig = repeat("tshark", self.runs, tshark)
            out["tshark_export_objects"] = {
                "mb_per_s": rate(size, fig.seconds),
                "objects": fig.runs[-1].extra,
                "load": fig.load,
                "command": "tshark -r CAP -q --export-objects http,DIR --export-objects imf,DIR "
                "--export-objects smb,DIR --export-objects ftp-data,DIR",
            }
        else:
            out["tshark_export_objects"] = {"skipped": "tshark not installed"}
        for name, kind, limit in (
            ("dpkt_re", "dpkt", self.args.dpkt_packets),
            ("dpkt_parse_only", "dpkt-parse", self.args.dpkt_packets),
            ("scapy", "scapy", self.args.scapy_packets),
            ("pyshark", "pyshark", self.args.pyshark_packets),
        ):
            try:
                __import__(kind.split("-")[0])
            except ImportError:
                out[name] = {
                    "skipped": f"python package {kind} not installed (pip install -e '.[test]')"
                }
                continue
            sample = self.work / f"sub-{kind}.pcap"
            got = peers.subsample(cap, sample, limit) if limit < total_packets else total_packets
            target = sample if limit < total_packets else cap
            cmd = [sys.executable, "-m", "bench.peers", kind, str(target)]
            runs = _loop_runs(cmd, self.work, self.runs)
            fig = Figure(name, runs)
            per_packet = fig.seconds / max(got, 1)
            out[name] = {
                "packets_measured": got,
                "extrapolated": got < total_packets,
                "mb_per_s": rate(size, per_packet * total_packets),
                "load": fig.load,
            }
        cmd = [sys.executable, "-m", "bench.peers", "hyperscan", str(cap)]
        runs = _loop_runs(cmd, self.work, self.runs)
        fig = Figure("hyperscan", runs)
        payload = runs[-1].extra["payload_bytes"]
        out["hyperscan_raw"] = {
            "payload_bytes": payload,
            "payload_mb_per_s": rate(payload, fig.seconds),
            "capture_mb_per_s": rate(size, fig.seconds),
            "load": fig.load,
        }
        run_process(["cat", str(cap)])  # warm the page cache, as for every other reader
        fig = repeat("cat", self.runs, lambda: run_process(["cat", str(cap)]))
        out["cat"] = {"mb_per_s": rate(size, fig.seconds), "load": fig.load}
        return out

    # -- run --------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        wanted = self.args.suites.split(",")
        self.results["machine"] = describe()
        cap = self.capture() if {"e2e", "stages", "spine", "peers"} & set(wanted) else None
        suites = self.results["suites"]
        for name in ("e2e", "stages", "dense", "flows", "spine", "peers"):
            if name not in wanted:
                continue
            print(f"suite {name} (load {loadavg():.2f}) ...", flush=True)
            if name == "dense":
                suites[name] = self.dense()
            elif name == "flows":
                suites[name] = self.flows()
            else:
                assert cap is not None
                suites[name] = getattr(self, name)(cap)
        self.results["ratios"] = ratios(suites)
        self.results["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().strip()
        if cap is not None and not self.args.keep and self.args.capture is None:
            cap.unlink()
        return self.results


def _count_packets(cap: Path) -> int:
    from sensor.anomalies import AnomalyCounter
    from sensor.capture import open_capture

    reader = open_capture(cap, AnomalyCounter())
    return sum(1 for _ in reader)


def ratios(suites: dict[str, Any]) -> dict[str, float]:
    """egress against each peer and limit, above 1 meaning egress is faster.

    The basis is the in-process audit on the batch path (the work loop, no interpreter start-up),
    as the Python peers are timed over their work loops too; tshark's figure includes its own
    start-up (well under a second, small against a 1 GB capture).
    """
    e2e = suites.get("e2e", {}).get("in_process_mb_per_s", {}).get("batch")
    peer = suites.get("peers", {})
    out: dict[str, float] = {}
    if not e2e:
        return out
    for name, key in (
        ("tshark_export_objects", "mb_per_s"),
        ("dpkt_re", "mb_per_s"),
        ("dpkt_parse_only", "mb_per_s"),
        ("scapy", "mb_per_s"),
        ("pyshark", "mb_per_s"),
        ("hyperscan_raw", "capture_mb_per_s"),
        ("cat", "mb_per_s"),
    ):
        value = peer.get(name, {}).get(key)
        if value:
            out[f"egress / {name}"] = round(e2e / value, 3)
    return out


def to_markdown(results: dict[str, Any]) -> str:
    """A readable summary of ``results`` (the JSON keeps every run)."""
    s = results["suites"]
    lines = ["| figure | value | load (1 min) |", "| --- | --- | --- |"]

    def row(name: str, value: str, load: Any = "") -> None:
        lines.append(f"| {name} | {value} | {load if load == '' else f'{load:.2f}'} |")

    if "e2e" in s:
        e = s["e2e"]
        row("end to end `egress audit`, MB/s of capture", f"{e['mb_per_s']:.1f}", e["load"])
        row("end to end, Gbps", f"{e['gbps']:.3f}", e["load"])
        row("end to end, packets/s", f"{e['packets_per_s']:,.0f}", e["load"])
        steady = e["mb_per_s_without_startup"]
        row(
            "end to end without start-up, MB/s",
            "n/a" if steady is None else f"{steady:.1f}",
            e["load"],
        )
        row("start-up (interpreter, signatures, GeoIP), s", f"{e['startup_seconds']:.2f}")
        row("end to end, MB per CPU-second (user + system)", f"{e['mb_per_cpu_s']:.1f}", e["load"])
        row("peak RSS, MB", f"{e['peak_rss_mb']:.0f}", e["load"])
        for k, v in e["in_process_mb_per_s"].items():
            cpu = e["in_process_mb_per_cpu_s"][k]
            row(f"in-process audit, {k} path, MB/s (MB per CPU-s)", f"{v:.1f} ({cpu:.1f})")
        speedup = f"{e['batch_speedup']:.2f}x wall, {e['batch_speedup_cpu']:.2f}x CPU"
        row("batch path speed-up over per-packet", speedup)
    if "stages" in s:
        for k, v in s["stages"]["mb_per_s"].items():
            row(f"stage {k}, MB/s", f"{v:.1f}", s["stages"]["load"])
    if "dense" in s:
        d = s["dense"]
        row(
            f"dense PI CSV ({d['bytes_per_person']} bytes/person), MB/s",
            f"{d['mb_per_s']:.2f}",
            d["load"],
        )
        row("dense PI CSV, MB per CPU-second", f"{d['mb_per_cpu_s']:.2f}", d["load"])
        row(
            "dense PI CSV, pure-Python re peer, MB per CPU-second",
            f"{d['re_peer']['mb_per_cpu_s']:.3f}",
        )
        row("dense PI CSV, ratio egress / re peer (CPU)", f"{d['ratio_to_re']:.1f}")
        for k, v in d["detection_rate"].items():
            row(f"dense detection rate, {k}", f"{v:.4f}")
        row("dense distinct individuals / people", f"{d['individual_rate']:.4f}")
        sp = d["sparse"]
        row("sparse PI text, MB/s", f"{sp['mb_per_s']:.1f}", sp["load"])
        row("sparse PI text, MB per CPU-second", f"{sp['mb_per_cpu_s']:.1f}", sp["load"])
        row(
            "sparse PI text, pure-Python re peer, MB per CPU-second",
            f"{sp['re_peer_mb_per_cpu_s']:.2f}",
        )
        row("sparse PI text, ratio egress / re peer (CPU)", f"{sp['ratio_to_re']:.1f}")
    for name, f in s.get("flows", {}).items():
        row(
            f"{name} ({f['flows_offered']:,} flows), packets/s",
            f"{f['packets_per_s']:,.0f}",
            f["load"],
        )
        row(
            f"{name}, peak RSS MB / evicted",
            f"{f['peak_rss_mb']:.0f} / {f['evicted']:,}",
            f["load"],
        )
    if "spine" in s:
        sp = s["spine"]
        for handler, label in (("stream", "coalesced runs"), ("strict", "every segment")):
            f = sp[handler]
            name = f"spine (decode + flows + reassembly, {label})"
            row(f"{name}, MB/s of capture", f"{f['mb_per_s']:.1f}", f["load"])
            row(f"{name}, Gbps", f"{f['gbps']:.3f}", f["load"])
            row(f"{name}, MB per CPU-second", f"{f['mb_per_cpu_s']:.1f}", f["load"])
            row(f"{name}, packets/s", f"{f['packets_per_s']:,.0f}", f["load"])
            row(f"{name}, CPU s / peak RSS MB", f"{f['cpu_seconds']:.2f} / {f['peak_rss_mb']:.0f}")
        for peer, label in (("tshark_conv_tcp", "tshark -z conv,tcp"), ("dpkt_parse", "dpkt")):
            p = sp[peer]
            if "skipped" in p:
                row(f"spine peer {label}", f"skipped: {p['skipped']}")
            else:
                note = " (extrapolated)" if p.get("extrapolated") else ""
                row(f"spine peer {label}, MB/s{note}", f"{p['mb_per_s']:.1f}", p["load"])
        for key, value in sp.items():
            if key.startswith("ratio "):
                row(f"spine {key}", f"{value:.2f}")
    for name, p in s.get("peers", {}).items():
        if "skipped" in p:
            row(f"peer {name}", f"skipped: {p['skipped']}")
        elif name == "hyperscan_raw":
            row("hyperscan raw scan, MB/s of payload", f"{p['payload_mb_per_s']:.1f}", p["load"])
            row("hyperscan raw scan, MB/s of capture", f"{p['capture_mb_per_s']:.1f}", p["load"])
        else:
            note = " (extrapolated)" if p.get("extrapolated") else ""
            row(f"peer {name}, MB/s{note}", f"{p['mb_per_s']:.2f}", p["load"])
    for k, v in results.get("ratios", {}).items():
        row(f"ratio {k}", f"{v:.3f}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="300M", help="standard mix size (default 300M)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; medians reported")
    parser.add_argument("--suites", default="e2e,stages,dense,flows,spine,peers")
    parser.add_argument(
        "--capture", type=Path, default=None, help="measure this capture instead of a mix"
    )
    parser.add_argument("--work", type=Path, default=None, help="scratch directory")
    parser.add_argument("--cpu", type=int, default=1, help="CPU to pin to; -1 to not pin")
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--dense-people", type=int, default=125_000, help="~10 MB of CSV")
    parser.add_argument(
        "--sparse-bytes", type=int, default=10_000_000, help="sparse PI text for the dense suite"
    )
    parser.add_argument("--dpkt-packets", type=int, default=200_000)
    parser.add_argument("--scapy-packets", type=int, default=20_000)
    parser.add_argument("--pyshark-packets", type=int, default=2_000)
    parser.add_argument(
        "--block-bytes", type=int, default=BLOCK_BYTES, help="batch block size for spine"
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    parser.add_argument("--keep", action="store_true", help="keep generated captures")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.flows, args.dense_people = (
            QUICK["size"],
            QUICK["flows"],
            QUICK["dense_people"],
        )
        args.sparse_bytes = QUICK["sparse_bytes"]
        args.scapy_packets, args.pyshark_packets = QUICK["scapy"], QUICK["pyshark"]
        args.dpkt_packets = min(args.dpkt_packets, 2_000)
        args.block_bytes = 256 << 10  # several blocks in the small mix, so flows span blocks
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        cpus = os.sched_getaffinity(0)
        if args.cpu in cpus:
            os.sched_setaffinity(0, {args.cpu})
    own_work = args.work is None
    args.work = Path(tempfile.mkdtemp(prefix="egress-bench-")) if own_work else args.work
    args.work.mkdir(parents=True, exist_ok=True)
    results = Suite(args).run()
    results["arguments"] = {k: str(v) for k, v in vars(args).items()}
    (args.work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = to_markdown(results)
    (args.work / "results.md").write_text(markdown)
    print(markdown)
    print(f"results: {args.work / 'results.json'}")
    return 0
