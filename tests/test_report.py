"""report.html without a browser: figures, processors part, degradation, escaping, determinism."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from sensor.outputs.report import render_report, write_report
from sensor.outputs.report_data import build_report_data
from tests.cli import run_egress
from tests.report_case import ACME, HOSTILE_HOST, PROCESSORS, make_alert, write_case

SAMPLE = Path(__file__).resolve().parents[1] / "sensor" / "data" / "sample-http-upload.pcap"


class _Collector(HTMLParser):
    """Tags, attributes and the text of elements with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.by_id: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "link", "br", "rect", "line"):
            self._open.append(dict(attrs).get("id"))

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("meta", "link", "br", "rect", "line") and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            if ident:
                self.by_id[ident] = self.by_id.get(ident, "") + data


def _parse(html: str) -> _Collector:
    parser = _Collector()
    parser.feed(html)
    return parser


def _alerts() -> list[dict[str, object]]:
    return [
        make_alert(1, "crm.example.com", "US", 40, processor=ACME),
        make_alert(2, "crm.example.com", "US", 4, processor=ACME, ts="2026-03-01T09:00:00+00:00"),
        make_alert(3, HOSTILE_HOST, "SG", 7, ts="2026-03-02T10:00:00+00:00"),
        make_alert(4, "hr.example.cn", "CN", 9, export=False),
        make_alert(5, "x.example", None, 2, ts="2026-03-03T10:00:00+00:00"),
    ]


def test_figures_from_alerts_match_summary(tmp_path: Path) -> None:
    summary = write_case(tmp_path, _alerts(), PROCESSORS)
    data = build_report_data(tmp_path)
    assert data.exports == summary["counts"]["exports"] == 4
    assert data.individuals == summary["individuals_in_exported_objects"] == 53
    assert {c: t.individuals for c, t in data.by_country} == summary[
        "individuals_in_exported_objects_by_destination"
    ]
    assert [r for r, _ in data.by_recipient] == ["crm.example.com", HOSTILE_HOST, "x.example"]
    assert sum(n for _, n in data.timeline) == 4
    ((sender, recipient, country), top) = data.transfers[0]
    assert (sender, recipient, country, top.individuals, top.objects) == (
        "Acme 深圳",
        "crm.example.com",
        "US",
        44,
        2,
    )
    page = _parse(render_report(data, "T"))
    assert page.by_id["fig-individuals"] == "53"
    assert page.by_id["fig-exports"] == "4"
    assert page.by_id["fig-countries"] == "3"


def test_processors_part_rendered(tmp_path: Path) -> None:
    write_case(tmp_path, _alerts(), PROCESSORS)
    html = render_report(build_report_data(tmp_path), "T")
    page = _parse(html)
    procs = [a["data-processor"] for t, a in page.tags if "data-processor" in a]
    assert procs == ["acme-sz", "unassigned"]
    assert "订立个人信息出境标准合同或通过个人信息保护认证" in html
    assert "120,345" in html and "促进和规范数据跨境流动规定 第八条 (personal&gt;=100000)" in html
    assert "undeclared_recipient" in html and "GB-43697-G.1" in html
    assert "compliance engine was not configured" not in html


def test_degrades_without_processors_and_events(tmp_path: Path) -> None:
    write_case(tmp_path, _alerts(), processors=None, events=None)
    html = render_report(build_report_data(tmp_path), "T")
    assert "compliance engine was not configured" in html
    assert 'data-processor="' not in html
    assert re.search(r'<table id="events">.*?none', html, re.S)


def test_events_rendered(tmp_path: Path) -> None:
    events = [
        {
            "record_type": "threshold_event",
            "event_id": "e2",
            "@timestamp": "2026-03-02T00:00:00+00:00",
            "processor": "acme-sz",
            "class": "personal",
            "value": 100001,
            "threshold": 100000,
        },
        {
            "record_type": "consistency_event",
            "event_id": "e1",
            "@timestamp": "2026-03-01T00:00:00+00:00",
            "processor": {"id": "acme-sz"},
            "check": "undeclared_recipient",
            "detail": HOSTILE_HOST,
        },
        {"record_type": "alert", "alert_id": "not an event"},
    ]
    write_case(tmp_path, _alerts(), PROCESSORS, events)
    data = build_report_data(tmp_path)
    assert [e["event_id"] for e in data.events] == ["e1", "e2"]
    html = render_report(data, "T")
    assert "100001" in html and "threshold_event" in html and "consistency_event" in html


def test_everything_from_captures_is_escaped(tmp_path: Path) -> None:
    write_case(tmp_path, _alerts(), PROCESSORS)
    html = render_report(build_report_data(tmp_path), "T")
    page = _parse(html)
    assert [a for t, a in page.tags if t == "img"] == []
    assert [t for t, _ in page.tags].count("script") == 1  # the page's own language switch
    assert not any(k.startswith("on") for _, attrs in page.tags for k in attrs)
    assert "<img src=y>" not in html and "&lt;img src=y&gt;evil.pcap" in html
    assert HOSTILE_HOST not in html
    assert "?id=1" not in html  # URLs (whose queries may hold identifiers) are not shown


def test_summary_mismatch_is_flagged(tmp_path: Path) -> None:
    summary = write_case(tmp_path, _alerts(), PROCESSORS)
    html = render_report(build_report_data(tmp_path), "T")
    assert 'class="note bad"' not in html
    summary["individuals_in_exported_objects"] += 1
    import json

    (tmp_path / "summary.json").write_text(json.dumps(summary))
    html = render_report(build_report_data(tmp_path), "T")
    assert "individuals summed over the alerts differ from summary.json" in html


def test_annual_report_fields(tmp_path: Path) -> None:
    write_case(tmp_path, _alerts(), PROCESSORS)
    html = render_report(build_report_data(tmp_path), "T")
    annual = html[html.index('<table id="annual">') :]
    annual = annual[: annual.index("</table>")]
    for item in ("全部数据接收方名称", "出境数据的类型、数量", "数据在境外的存放地点"):
        assert item in annual
    assert "crm.example.com" in annual and "美国 US" in annual and "新加坡 SG" in annual
    assert "居民身份证号码" in annual


def test_same_case_same_report(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        result = run_egress("audit", SAMPLE, "--out", out, "--quiet")
        assert result.returncode == 0, result.stderr
    one = (first / "report.html").read_text()
    two = (second / "report.html").read_text()
    stamp = re.compile(r'<span id="generated">[^<]*</span>')
    assert stamp.search(one)
    assert stamp.sub("", one) == stamp.sub("", two)
    assert write_report(first, "X").read_text() == write_report(second, "X").read_text()


def test_ledger_from_alerts_when_summary_has_no_processors(tmp_path: Path) -> None:
    alerts = _alerts()
    for n, year_total in ((0, 100), (1, 150)):
        alerts[n]["egress"]["policy"] = {
            "legal_path": "exempt" if year_total < 120 else "security_assessment",
            "basis": [],
            "reason": f"{year_total} people so far",
            "ledger": {"year": 2026, "personal": year_total, "sensitive": 3},
        }
    write_case(tmp_path, alerts, processors=None)
    data = build_report_data(tmp_path)
    assert [pid for pid, _ in data.ledgers_from_alerts] == ["acme-sz"]
    html = render_report(data, "T")
    ledgers = html[html.index('<table id="ledgers">') :]
    ledgers = ledgers[: ledgers.index("</table>")]
    assert "150 people so far" in ledgers and "申报数据出境安全评估" in ledgers  # the latest
    assert "100 people so far" not in ledgers
    assert "compliance engine was not configured" not in html


def test_export_list_traces_figures_to_alerts(tmp_path: Path) -> None:
    write_case(tmp_path, _alerts(), PROCESSORS)
    html = render_report(build_report_data(tmp_path), "T")
    listed = html[html.index('<table id="export-list">') :]
    listed = listed[: listed.index("</table>")]
    assert listed.count("<tr>") == 1 + 4  # header and the four exports; the domestic one is not
    assert _alerts()[3]["alert_id"] not in listed


def test_malformed_alerts_are_counted_not_fatal(tmp_path: Path) -> None:
    alerts = _alerts()
    write_case(tmp_path, alerts, PROCESSORS)
    with (tmp_path / "alerts.jsonl").open("a") as f:
        f.write('{"record_type": "alert", "destination": "x"}\n[1, 2]\nnot json\n')
    data = build_report_data(tmp_path)
    assert data.malformed == 1 and data.exports == 4
    assert "1 alert records lack required fields" in render_report(data, "T")


def test_long_tables_are_cut_with_a_note(tmp_path: Path) -> None:
    from sensor.outputs import report

    alerts = [make_alert(n, f"h{n}.example", "US", 1) for n in range(1, report.MAX_TABLE_ROWS + 8)]
    write_case(tmp_path, alerts)
    html = render_report(build_report_data(tmp_path), "T")
    listed = html[html.index('<table id="export-list">') :]
    assert listed[: listed.index("</table>")].count("<tr>") == 1 + report.MAX_TABLE_ROWS
    assert "7 more rows not shown" in listed
    annual = html[html.index('<table id="annual">') :]
    annual = annual[: annual.index("</table>")]
    names = set(re.split(r"<br>|<td>|</td>", annual))
    assert {f"h{n}.example" for n in range(1, 508)} <= names  # every recipient, uncut


def test_timeline_buckets() -> None:
    from sensor.outputs.report_data import _timeline

    stamps = ["2026-03-01T00:00:00+00:00", "2026-03-01T00:30:00+00:00", "2026-03-03T00:00:01+00:00"]
    rows, step = _timeline(stamps)
    assert step == 3600 and len(rows) == 49  # 48 h span in hours: at most 60 buckets
    assert rows[0] == ("2026-03-01 00:00:00", 2) and rows[-1] == ("2026-03-03 00:00:00", 1)
    assert sum(n for _, n in rows) == 3
    assert _timeline([]) == ([], 0)
    rows, step = _timeline(["2026-01-01T00:00:00+00:00", "2026-06-01T00:00:00+00:00"])
    assert step == 7 * 86400 and rows[0] == ("2026-01-01", 1) and len(rows) == 22  # weeks
