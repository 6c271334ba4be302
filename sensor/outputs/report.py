"""``report.html``: the regulator-facing audit report, one self-contained file in Chinese and English.

It answers who sent which categories of data about how many people to which countries and
recipients, shows the processors' ledger and legal path and the consistency checks, and fills the
fields of the annual data-export report (数据出境安全报告) that traffic can answer.

Self-contained means it opens offline and fetches nothing: inline CSS, inline SVG charts
(``svgchart``), a few lines of inline JavaScript for the language switch, and a Content Security
Policy that forbids every external load. All text from captures (host names, file names,
anything under an alert) is escaped. The page is a pure function of the case folder plus the
generation time, so re-rendering the same folder gives the same bytes apart from that time.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from sensor.outputs.report_data import (
    ReportData,
    alert_individuals,
    build_report_data,
    country_of,
    recipient_of,
)
from sensor.outputs.svgchart import column_chart, hbar_chart

REPORT_NAME = "report.html"
TOP_RECIPIENTS = 10
MAX_TABLE_ROWS = 500  # longer tables are cut (with a note): the JSON files hold everything

LEGAL_PATHS = {
    "exempt": ("免于申报（豁免）", "Exempt"),
    "standard_contract_or_certification": (
        "订立个人信息出境标准合同或通过个人信息保护认证",
        "Standard contract or certification",
    ),
    "security_assessment": ("申报数据出境安全评估", "Security assessment by the CAC"),
    "prohibited": ("不得出境", "Prohibited"),
    "not_an_export": ("不属于数据出境", "Not an export"),
}
CLASSES = {
    "personal_information": ("个人信息", "personal information"),
    "sensitive_personal_information": ("敏感个人信息", "sensitive personal information"),
    "important_data": ("重要数据", "important data"),
}
LEDGER_CLASSES = {
    "personal": ("个人信息（不含敏感）", "personal (not sensitive)"),
    "sensitive": ("敏感个人信息", "sensitive personal"),
    "account_or_medical": ("账户或医疗信息", "account or medical"),
}
COUNTRIES = {
    "US": "美国", "HK": "中国香港", "MO": "中国澳门", "TW": "中国台湾", "JP": "日本",
    "KR": "韩国", "SG": "新加坡", "DE": "德国", "GB": "英国", "FR": "法国", "NL": "荷兰",
    "IE": "爱尔兰", "CA": "加拿大", "AU": "澳大利亚", "RU": "俄罗斯", "IN": "印度",
    "MY": "马来西亚", "TH": "泰国", "VN": "越南", "CN": "中国", "unknown": "未知",
    "internal": "内网",
}  # fmt: skip
STEP_NAMES = {
    1: ("秒", "second"), 10: ("10 秒", "10 s"), 60: ("分钟", "minute"), 600: ("10 分钟", "10 min"),
    3600: ("小时", "hour"), 6 * 3600: ("6 小时", "6 h"), 86400: ("天", "day"), 7 * 86400: ("周", "week"),
    30 * 86400: ("30 天", "30 days"),
}  # fmt: skip
NOT_OBSERVABLE = (
    "流量中无法观测，需由数据处理者补充",
    "not observable in traffic; the processor must supply it",
)

STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC","WenQuanYi Micro Hei",system-ui,sans-serif;margin:0;
color:#1d2730;background:#f4f6f8;line-height:1.45}
header{background:#1f3b57;color:#fff;padding:18px 32px}header h1{margin:0 0 4px;font-size:24px}
main{padding:8px 32px 40px;max-width:1200px}section{background:#fff;border-radius:6px;
padding:12px 20px 16px;margin:16px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:19px;border-bottom:2px solid #e3e8ee;padding-bottom:4px}h3{font-size:16px;margin:14px 0 6px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
th,td{border:1px solid #d9e0e7;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef2f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{flex:1 1 150px;background:#eef4fa;border-radius:6px;
padding:10px 14px}.card .v{font-size:26px;font-weight:700;color:#1f3b57}.card .k{font-size:12px}
.en{color:#4a5866}.zh+.en:before{content:" / "}h1 .en,header .en{color:#cfe0f0}
body[data-lang=zh] .en,body[data-lang=en] .zh{display:none}
body[data-lang=zh] .zh+.en:before,body[data-lang=en] .zh+.en:before{content:""}
.note{background:#fff7e0;border-left:4px solid #e0a458;padding:6px 10px;font-size:13px}
.bad{color:#b02a1a;font-weight:600}.ok{color:#2d7a46;font-weight:600}.mono{font-family:monospace;
font-size:12px;word-break:break-all}svg.chart{width:100%;max-width:600px;height:auto;display:block}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:8px 24px}
#lang button{margin-left:6px;padding:3px 10px;border:1px solid #cfe0f0;background:transparent;color:#fff;
border-radius:4px;cursor:pointer}#lang{float:right}
"""
SCRIPT = """
document.querySelectorAll('#lang button').forEach(function (b) {
  b.addEventListener('click', function () { document.body.dataset.lang = b.dataset.lang; });
});
"""

# Only the page's own script may run (by its hash): even if escaping ever failed, an injected
# <script> or on*= attribute from a capture would be blocked and reported on the console.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; script-src "
    f"'sha256-{base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()}'"
)


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def bi(zh: str, en: str) -> str:
    """Both languages; the switch hides one (CSS), so both are always in the file."""
    return f'<span class="zh" lang="zh">{_e(zh)}</span><span class="en" lang="en">{_e(en)}</span>'


def _num(value: int) -> str:
    return f"{value:,}"


def _table(headers: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]], tid: str = "") -> str:
    """``rows`` hold HTML already escaped; a cell starting with ``\\x00`` is numeric."""
    head = "".join(f"<th>{bi(zh, en)}</th>" for zh, en in headers)
    body: list[str] = []
    more = 0
    for row in rows:
        if len(body) == MAX_TABLE_ROWS:
            more += 1
            continue
        cells = "".join(
            f'<td class="num">{c[1:]}</td>' if c.startswith("\x00") else f"<td>{c}</td>"
            for c in row
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body = [f'<tr><td colspan="{len(headers)}">{bi("无", "none")}</td></tr>']
    id_attr = f' id="{_e(tid)}"' if tid else ""
    cut = (
        f'<p class="note">{bi(f"另有 {more} 行未列出", f"{more} more rows not shown")}</p>'
        if more
        else ""
    )
    return (
        f"<table{id_attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{cut}"
    )


def _when(ts: str) -> str:
    """ISO time to the second, in UTC as recorded."""
    return _e(ts[:19].replace("T", " "))


def _n(value: int) -> str:
    return "\x00" + _num(value)


def _country(code: str) -> str:
    zh = COUNTRIES.get(code, "")
    return _e(f"{zh} {code}" if zh else code)


def _category(data: ReportData, ident: str) -> str:
    zh, en, _ = data.category_names.get(ident, (ident, ident, ""))
    return bi(zh, en)


def _section(sid: str, zh: str, en: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{bi(zh, en)}</h2>{body}</section>'


def _header(data: ReportData, generated: str) -> str:
    s = data.summary
    inputs = _table(
        [("输入文件", "input"), ("SHA-256", "SHA-256"), ("数据包", "packets"), ("字节", "bytes")],
        (
            [
                _e(Path(str(i.get("path", ""))).name),
                f'<span class="mono">{_e(i.get("sha256") or "")}</span>',
                _n(int(i.get("packets") or 0)),
                _n(int(i.get("bytes_read") or 0)),
            ]
            for i in s.get("inputs", [])
        ),
    )
    geo = s.get("geoip", {}).get("description", {}).get("en", "")
    return (
        '<header><div id="lang"><button data-lang="both">中文 + English</button>'
        '<button data-lang="zh">中文</button><button data-lang="en">English</button></div>'
        f"<h1>{bi('数据出境审计报告', 'Data export audit report')}</h1>"
        f'<div>{bi("生成时间", "Generated")}: <span id="generated">{_e(generated)}</span> · '
        f"{bi('本地法域', 'Home jurisdiction')}: {_e(s.get('home_jurisdiction', ''))}</div></header>"
        "<main>"
        + _section(
            "case",
            "审计范围",
            "Scope of the audit",
            inputs + f"<p>{bi('地理位置数据库', 'GeoIP database')}: {_e(geo)}</p>",
        )
    )


def _figures(data: ReportData) -> str:
    s = data.summary
    counts = s.get("counts", {})
    cards = [
        ("alerts", counts.get("alerts", 0), "告警", "alerts"),
        ("exports", counts.get("exports", 0), "出境传输对象", "objects exported"),
        (
            "individuals",
            s.get("individuals_in_exported_objects", 0),
            "出境个人信息涉及人数（按对象累计）",
            "individuals in exported objects (summed per object)",
        ),
        ("countries", len(data.by_country), "目的国家/地区", "destination countries/regions"),
        ("recipients", len(data.by_recipient), "境外接收方", "recipients abroad"),
        ("bytes", data.exported_bytes, "出境数据量（字节）", "bytes exported"),
    ]
    html = "".join(
        f'<div class="card"><div class="v" id="fig-{key}" data-value="{int(value)}">'
        f'{_num(int(value))}</div><div class="k">{bi(zh, en)}</div></div>'
        for key, value, zh, en in cards
    )
    notes = []
    if data.alerts != counts.get("alerts", data.alerts):
        notes.append(
            bi(
                f"alerts.jsonl 含 {data.alerts} 条告警，与 summary.json 不一致",
                f"alerts.jsonl holds {data.alerts} alerts, summary.json says otherwise",
            )
        )
    if data.malformed:
        notes.append(
            bi(
                f"alerts.jsonl 中 {data.malformed} 条记录格式不符，未计入",
                f"{data.malformed} alert records lack required fields and are not counted",
            )
        )
    if data.individuals != s.get("individuals_in_exported_objects", data.individuals):
        notes.append(
            bi(
                "告警中的人数合计与 summary.json 不一致",
                "individuals summed over the alerts differ from summary.json",
            )
        )
    warn = "".join(f'<p class="note bad">{n}</p>' for n in notes)
    return _section("figures", "关键数据", "Key figures", f'<div class="cards">{html}</div>{warn}')


def _categories_cell(data: ReportData, idents: set[str]) -> str:
    return "<br>".join(_category(data, i) for i in sorted(idents))


def _transfers(data: ReportData) -> str:
    rows = (
        [
            _e(sender),
            _e(recipient),
            _country(country),
            _categories_cell(data, t.categories),
            _n(t.individuals),
            _n(t.objects),
            _n(t.bytes),
            _when(t.first),
            _when(t.last),
        ]
        for (sender, recipient, country), t in data.transfers
    )
    table = _table(
        [
            ("发送方", "sender"),
            ("接收方", "recipient"),
            ("国家/地区", "country/region"),
            ("数据类别", "categories"),
            ("人数", "individuals"),
            ("对象", "objects"),
            ("字节", "bytes"),
            ("首次", "first"),
            ("最近", "last"),
        ],
        rows,
        "transfers",
    )
    intro = bi(
        "谁向哪些国家/地区的哪些接收方提供了哪些类别的数据、涉及多少人。",
        "Who sent which categories of data about how many people to which countries and recipients.",
    )
    return _section("transfers-section", "数据出境情况", "Data exports", f"<p>{intro}</p>{table}")


def _charts(data: ReportData) -> str:
    countries = [(f"{COUNTRIES.get(c, '')} {c}".strip(), t.individuals) for c, t in data.by_country]
    names = data.category_names
    categories = [(" ".join(names.get(i, (i, i, ""))[:2]), t.values) for i, t in data.by_category]
    recipients = [(r, t.individuals) for r, t in data.by_recipient[:TOP_RECIPIENTS]]
    zh_step, en_step = STEP_NAMES.get(
        data.timeline_step, (f"{data.timeline_step} 秒", f"{data.timeline_step} s")
    )
    charts = [
        ("按目的地的人数", "Individuals by destination", hbar_chart(countries, "individuals by destination")),
        ("按类别的识别值数", "Identifier values by category", hbar_chart(categories, "values by category")),
        (f"前{TOP_RECIPIENTS}名接收方（人数）", f"Top {TOP_RECIPIENTS} recipients (individuals)", hbar_chart(recipients, "top recipients")),
        (f"时间线（每{zh_step}出境对象数）", f"Timeline (exported objects per {en_step})", column_chart(data.timeline, "timeline")),
    ]  # fmt: skip
    html = "".join(
        f'<div class="chart-box"><h3>{bi(zh, en)}</h3>{svg or bi("无出境", "no exports")}</div>'
        for zh, en, svg in charts
    )
    dest = _table(
        [("国家/地区", "country/region"), ("人数", "individuals"), ("对象", "objects"), ("字节", "bytes")],
        ([_country(c), _n(t.individuals), _n(t.objects), _n(t.bytes)] for c, t in data.by_country),
        "destinations",
    )  # fmt: skip
    cats = _table(
        [("类别", "category"), ("级别", "class"), ("识别值", "values"), ("去重值（按对象累计）", "distinct (summed per object)"), ("对象", "objects")],
        (
            [_category(data, i), bi(*CLASSES.get(data.category_names.get(i, ("", "", ""))[2], ("", ""))), _n(t.values), _n(t.individuals), _n(t.objects)]
            for i, t in data.by_category
        ),
        "categories",
    )  # fmt: skip
    recips = _table(
        [("接收方", "recipient"), ("国家/地区", "country/region"), ("数据类别", "categories"), ("人数", "individuals"), ("对象", "objects")],
        ([_e(r), ", ".join(_country(c) for c in sorted(t.countries)), _categories_cell(data, t.categories), _n(t.individuals), _n(t.objects)] for r, t in data.by_recipient),
        "recipients",
    )  # fmt: skip
    body = (
        f'<div class="charts">{html}</div><h3>{bi("目的地", "Destinations")}</h3>{dest}'
        f"<h3>{bi('数据类别', 'Categories')}</h3>{cats}<h3>{bi('接收方', 'Recipients')}</h3>{recips}"
    )
    return _section("charts", "图表", "Charts", body)


def _basis(basis: object) -> str:
    if not isinstance(basis, list):
        return ""
    items = []
    for b in basis:
        if isinstance(b, dict):
            text = " ".join(str(b.get(k, "")) for k in ("document", "article") if b.get(k))
            rule = f" ({b['rule']})" if b.get("rule") else ""
            items.append(f"<li>{_e(text + rule)}</li>")
        else:
            items.append(f"<li>{_e(b)}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _class_table(by_key: object, key_head: tuple[str, str], country: bool = False) -> str:
    rows = []
    if isinstance(by_key, dict):
        for key in sorted(by_key):
            v = by_key[key] if isinstance(by_key[key], dict) else {}
            rows.append(
                [_country(key) if country else _e(key)]
                + [_n(int(v.get(c) or 0)) for c in LEDGER_CLASSES]
            )
    return _table([key_head, *LEDGER_CLASSES.values()], rows)


def _processor(p: dict[str, Any]) -> str:
    decision = p.get("decision") or {}
    path = str(decision.get("legal_path", ""))
    zh, en = LEGAL_PATHS.get(path, (path, path))
    people = p.get("individuals") or {}
    ledger = _table(
        [("年度", "year"), *LEDGER_CLASSES.values()],
        [[_e(p.get("year", "")), *(_n(int(people.get(c) or 0)) for c in LEDGER_CLASSES)]],
    )
    consistency = p.get("consistency") or []
    checks = _table(
        [("检查", "check"), ("详情", "detail")],
        ([_e(c.get("check", "")), _e(c.get("detail", ""))] for c in consistency if isinstance(c, dict)),
    )  # fmt: skip
    important = ", ".join(_e(c) for c in p.get("important_data") or []) or bi("无", "none")
    flags = (
        f"{bi('关键信息基础设施运营者', 'CIIO')}: {_e('yes' if p.get('ciio') else 'no')} · "
        f"{bi('自贸区', 'free-trade zone')}: {_e(p.get('ftz', ''))}"
    )
    return (
        f'<div class="processor" data-processor="{_e(p.get("id", ""))}">'
        f"<h3>{_e(p.get('name') or p.get('id', ''))} <span class=\"mono\">({_e(p.get('id', ''))})</span></h3>"
        f"<p>{flags}</p><p>{bi('合规路径', 'Legal path')}: <strong class=\"legal-path\">{bi(zh, en)}</strong></p>"
        f"<p>{_e(decision.get('reason', ''))}</p>{_basis(decision.get('basis'))}"
        f"<h3>{bi('年度累计人数（去重）', 'Ledger: distinct individuals this year')}</h3>{ledger}"
        f"<h3>{bi('按目的地', 'By destination')}</h3>{_class_table(p.get('by_destination'), ('国家/地区', 'country/region'), country=True)}"
        f"<h3>{bi('按接收方', 'By recipient')}</h3>{_class_table(p.get('recipients'), ('接收方', 'recipient'))}"
        f"<p>{bi('重要数据', 'Important data')}: {important}</p>"
        f"<h3>{bi('与申报的一致性检查', 'Consistency with declared exports')}</h3>{checks}</div>"
    )  # fmt: skip


def _ledgers_from_alerts(data: ReportData) -> str:
    """Fallback when summary.json has no processors part but alerts carry egress.policy."""
    rows = []
    for pid, policy in data.ledgers_from_alerts:
        ledger = policy.get("ledger") or {}
        path = str(policy.get("legal_path", ""))
        proc = policy.get("processor") or {}
        rows.append(
            [_e(proc.get("name") or pid), _e(ledger.get("year", ""))]
            + [_n(int(ledger.get(c) or 0)) for c in LEDGER_CLASSES]
            + [bi(*LEGAL_PATHS.get(path, (path, path))), _e(policy.get("reason", ""))]
        )
    headers = [("处理者", "processor"), ("年度", "year"), *LEDGER_CLASSES.values(), ("合规路径", "legal path"), ("理由", "reason")]  # fmt: skip
    note = bi(
        "摘自各处理者最后一条告警所附的台账与决定。", "As carried by each processor's last alert."
    )
    return f"<p>{note}</p>" + _table(headers, rows, "ledgers")


def _processors(data: ReportData) -> str:
    if data.processors is None and data.ledgers_from_alerts:
        body = _ledgers_from_alerts(data)
    elif data.processors is None:
        body = '<p class="note">' + bi(
            "本次审计未配置数据处理者与年度台账（合规引擎未启用），无法给出合规路径；上方数字按对象累计。",
            "No processor ledger in this case (the compliance engine was not configured), so no legal "
            "path is given; the figures above are summed per object.",
        ) + "</p>"  # fmt: skip
    else:
        procs = sorted(data.processors, key=lambda p: str(p.get("id", "")))
        body = "".join(_processor(p) for p in procs if isinstance(p, dict)) or bi("无", "none")
    return _section(
        "processors", "数据处理者台账与合规路径", "Ledger and legal path per processor", body
    )


def _events(data: ReportData) -> str:
    known = ("record_type", "event_id", "@timestamp", "schema_version")
    rows = []
    for event in data.events:
        kind = str(event.get("record_type", ""))
        proc = event.get("processor")
        proc_name = proc.get("id", "") if isinstance(proc, dict) else (proc or "")
        rest = {k: v for k, v in event.items() if k not in (*known, "processor")}
        detail = json.dumps(rest, ensure_ascii=False, sort_keys=True)
        rows.append(
            [
                _e(event.get("@timestamp", "")),
                _e(kind),
                _e(proc_name),
                f'<span class="mono">{_e(detail)}</span>',
            ]
        )
    table = _table([("时间", "time"), ("类型", "type"), ("处理者", "processor"), ("详情", "detail")], rows, "events")  # fmt: skip
    return _section("events", "阈值与一致性事件", "Threshold and consistency events", table)


def _exports(data: ReportData) -> str:
    """One row per exported object, so each figure can be traced to an alert and its evidence."""
    rows = []
    for alert in data.exported:
        evidence = alert.get("evidence") or {}
        pcap = (evidence.get("pcap") or {}).get("sha256", "")
        obj = (evidence.get("object") or {}).get("sha256", "")
        policy = (alert.get("egress") or {}).get("policy") or {}
        path = str(policy.get("legal_path", ""))
        rows.append(
            [
                f'<span class="mono">{_e(alert.get("alert_id", ""))}</span>',
                _when(str(alert.get("@timestamp", ""))),
                _e(recipient_of(alert)),
                _country(country_of(alert)),
                _n(alert_individuals(alert)),
                _e(alert.get("severity", "")),
                bi(*LEGAL_PATHS[path]) if path in LEGAL_PATHS else "",
                f'<span class="mono">{_e(obj[:16])}<br>{_e(pcap[:16])}</span>',
            ]
        )
    headers = [("告警", "alert"), ("时间 (UTC)", "time (UTC)"), ("接收方", "recipient"), ("国家/地区", "country/region"), ("人数", "individuals"), ("级别", "severity"), ("合规路径", "legal path"), ("证据 SHA-256（对象/报文）", "evidence sha256 (object / pcap)")]  # fmt: skip
    return _section("exports", "出境对象明细", "Exported objects", _table(headers, rows, "export-list"))  # fmt: skip


def _annual(data: ReportData) -> str:
    recipients = "<br>".join(_e(r) for r, _ in data.by_recipient) or bi("无", "none")
    types = "<br>".join(
        f"{_category(data, i)}: {_num(t.values)} {bi('个识别值', 'values')}, {_num(t.individuals)} {bi('人（按对象累计）', 'people (summed per object)')}"
        for i, t in data.by_category
    ) or bi("无", "none")  # fmt: skip
    places = ", ".join(_country(c) for c, _ in data.by_country) or bi("无", "none")
    na = bi(*NOT_OBSERVABLE)
    rows = [
        [bi("全部数据接收方名称", "names of all recipients"), recipients],
        [bi("接收方联系方式", "recipients' contact details"), na],
        [bi("出境数据的类型、数量", "types and quantities of exported data"), types],
        [bi("出境目的", "purposes of the export"), na],
        [bi("数据在境外的存放地点", "where the data is stored abroad"), places + " " + bi("（按接收方IP地址判断）", "(by the recipients' IP addresses)")],
        [bi("存储期限、使用范围和方式", "storage period, scope and manner of use"), na],
        [bi("数据用户投诉及处理情况", "complaints and their handling"), na],
        [bi("数据安全事件及其处置情况", "data security incidents and their handling"), na],
        [bi("数据出境后再转移的情况", "onward transfers"), na],
    ]  # fmt: skip
    intro = bi(
        "《企业数据跨境安全合规指引》第三章所列年度数据出境安全报告事项；本表填写流量可回答的部分。",
        "Items of the annual data-export security report (guide, chapter 3); this table fills what traffic can answer.",
    )  # fmt: skip
    table = _table([("报告事项", "report item"), ("本次审计所见", "observed in this audit")], rows, "annual")  # fmt: skip
    return _section("annual", "年度数据出境安全报告事项", "Annual data-export report fields", f"<p>{intro}</p>{table}")  # fmt: skip


def _integrity(data: ReportData) -> str:
    s = data.summary
    log = s.get("audit_log") or {}
    ev = s.get("evidence") or {}
    removed = ev.get("removed_by_retention") or {}
    rows = [
        [bi("审计日志", "audit log"), _e(log.get("path", "—"))],
        [bi("日志条目", "log entries"), _n(int(log.get("entries") or 0))],
        [bi("日志链头哈希", "log head sha256"), f'<span class="mono" id="log-head">{_e(log.get("head_sha256", ""))}</span>'],
        [bi("证据文件", "evidence files stored"), _n(int(ev.get("stored_files") or 0))],
        [bi("证据加密", "evidence encrypted"), _e("AES-256-GCM" if ev.get("encrypted") else "no")],
        [bi("因保留期限删除", "removed by age limit"), _n(int(removed.get("files_by_age") or 0))],
        [bi("因容量限制删除", "removed by size limit"), _n(int(removed.get("files_by_size") or 0))],
    ]  # fmt: skip
    verify = bi("校验命令", "verify with") + f': <span class="mono">egress verify-log {_e(log.get("path", "audit-log.jsonl"))}</span>'  # fmt: skip
    anomalies = s.get("anomalies") or {}
    anom = _table(
        [("异常", "anomaly"), ("次数", "count")],
        ([_e(name), _n(int(info.get("count") or 0))] for name, info in sorted(anomalies.items())),
        "anomalies",
    )
    body = _table([("项目", "item"), ("值", "value")], rows) + f"<p>{verify}</p>"
    body += f"<h3>{bi('异常计数', 'Counted anomalies')}</h3>{anom}"
    return _section("integrity", "证据、日志与异常", "Evidence, audit log and anomalies", body)


def _method() -> str:
    text = bi(
        "识别值以掩码或计数呈现，报告不含原始身份信息。人数按出境对象累计（同一人出现在两个对象中计两次）；年度台账跨对象去重。国家/地区由接收方IP地址经GeoIP确定。",
        "Identifiers appear only as counts; the report holds no raw identifier. Individuals are summed per exported "
        "object (a person in two objects counts twice); the yearly ledger deduplicates across objects. Countries come "
        "from the receivers' IP addresses via GeoIP.",
    )  # fmt: skip
    return _section("method", "方法说明", "Method", f"<p>{text}</p>")


def render_report(data: ReportData, generated: str) -> str:
    """The whole page; ``generated`` is the only input not taken from the case folder."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        "<title>数据出境审计报告 / Data export audit report</title>",
        f"<style>{STYLE}</style></head>",
        '<body data-lang="both">',
        _header(data, generated),
        _figures(data),
        _transfers(data),
        _charts(data),
        _processors(data),
        _events(data),
        _exports(data),
        _annual(data),
        _integrity(data),
        _method(),
        f"</main><script>{SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(case: Path, generated: str | None = None) -> Path:
    """Render ``case/report.html`` from the case folder's files; returns its path."""
    if generated is None:
        generated = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    path = case / REPORT_NAME
    path.write_text(render_report(build_report_data(case), generated), encoding="utf-8")
    return path
