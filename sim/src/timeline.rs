//! A self-contained HTML timeline of one simulated run, drawn from its trace.
//!
//! Pure: trace events in, one HTML string out (inline CSS, JS and SVG, the run embedded as
//! JSON; no network, no generation timestamp, so one trace always gives the same page).
//! [`model`] decides what is drawn where — one lane per node, a mark per event, spans for
//! faults that last (node down, partition, RPC outage) — and the page's script only draws it.
//!
//! Every drawn mark is an SVG `<g class="mark" data-kind=… data-lane=… data-t=…>` with a
//! `<title>` (the hover tooltip), so a test can count what a browser actually drew.
//!
//! Text in the trace can come from peers (rejection reasons, error messages): it is escaped
//! in the HTML and embedded in the JSON with `<`, `>`, `&` as `\u003c`…, so no `</script>`
//! or markup can leave its place.

use crate::trace::{Event, EventKind};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// What the page says about the run besides its events.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// e.g. "byzantine seed 1234".
    pub title: String,
    /// The runner's one-line verdict (ok … / FAIL …), if known.
    pub verdict: Option<String>,
    /// The run's first violation when the trace itself does not carry `Violation` events.
    pub violation: Option<ViolationInfo>,
}

#[derive(Clone, Debug)]
pub struct ViolationInfo {
    pub at_ms: u64,
    /// "Safety", "Liveness", …
    pub class: String,
    pub invariant: String,
    pub detail: String,
}

/// Mark kinds, in legend order: (id, legend text, colour).
pub const KINDS: &[(&str, &str, &str)] = &[
    ("task_submitted", "task created (generator's tx)", "#60a5fa"),
    ("task_created", "task created (on chain)", "#1d4ed8"),
    ("response_sent", "response sent", "#14b8a6"),
    ("response_received", "response received", "#8b5cf6"),
    ("response_rejected", "response rejected", "#dc2626"),
    ("aggregate_submitted", "aggregate submitted", "#f59e0b"),
    ("task_accepted", "task accepted", "#16a34a"),
    ("task_expired", "task expired", "#ea580c"),
    ("task_settled", "task settled (rewards/slashing)", "#0f766e"),
    ("block", "block mined", "#9ca3af"),
    ("tx_reverted", "transaction reverted", "#7f1d1d"),
    ("registered", "operator registered", "#64748b"),
    ("crash", "crash", "#111827"),
    ("restart", "restart", "#059669"),
    ("partition", "partition start", "#a855f7"),
    ("partition_end", "partition end", "#d8b4fe"),
    ("frame", "frame lost/dup/reordered/delayed", "#ec4899"),
    ("rpc", "RPC fault", "#ca8a04"),
    ("reorg", "chain reorg", "#b45309"),
    ("fork", "node reads a fork", "#0ea5e9"),
    ("fault", "other fault", "#6b7280"),
    ("note", "note", "#cbd5e1"),
    ("violation", "INVARIANT VIOLATION", "#ff0000"),
];

/// One drawn mark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mark {
    pub t: u64,
    pub lane: String,
    pub kind: &'static str,
    /// Tooltip text.
    pub tip: String,
    /// A few characters drawn beside the mark (the task number of task events).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
}

/// A fault that lasts: drawn as a band on its lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Span {
    pub lane: String,
    /// "down", "partitioned", "rpc outage".
    pub what: &'static str,
    pub from: u64,
    /// `None`: still open when the run ended.
    pub to: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Model {
    pub title: String,
    pub verdict: Option<String>,
    pub lanes: Vec<String>,
    pub marks: Vec<Mark>,
    pub spans: Vec<Span>,
    /// (time, phase name): "safety" (faults start), "liveness" (healed).
    pub phases: Vec<(u64, String)>,
    pub end_ms: u64,
    /// Where the axis starts by default: just before the safety phase (setup is long and dull).
    pub focus_ms: u64,
    /// The violations drawn (index into `marks`).
    pub violations: Vec<usize>,
}

fn fmt_s(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

fn short(hex: &str) -> String {
    if hex.len() > 18 {
        format!("{}…", &hex[..18])
    } else {
        hex.to_string()
    }
}

fn signers(v: &[usize]) -> String {
    let s: Vec<String> = v.iter().map(|i| i.to_string()).collect();
    format!("[{}]", s.join(","))
}

/// What a fault text means: (mark kind, span it opens or closes).
fn fault_kind(text: &str, healed: bool) -> &'static str {
    let t = text.trim();
    if healed {
        if t.starts_with("restart") {
            "restart"
        } else if t.starts_with("heal partition") {
            "partition_end"
        } else if t.starts_with("rpc") {
            "rpc"
        } else {
            "fault"
        }
    } else if t.starts_with("crash") {
        "crash"
    } else if t.starts_with("partition") {
        "partition"
    } else if t.starts_with("frame") {
        "frame"
    } else if t.starts_with("rpc") {
        "rpc"
    } else if t.starts_with("reorg") {
        "reorg"
    } else if t.contains("will read a fork") {
        "fork"
    } else {
        "fault"
    }
}

/// The lane a fault belongs on: faults recorded by the fault driver name the node they hit
/// ("crash operator-1", "heal partition aggregator"); others stay on the recording node.
fn fault_lane(recorder: &str, text: &str, nodes: &BTreeSet<String>) -> String {
    if recorder != "faults" {
        return recorder.to_string();
    }
    for tok in text.split_whitespace() {
        let tok = tok.trim_matches(|c: char| c == ',' || c == ':');
        if tok != "faults" && tok != "sim" && nodes.contains(tok) {
            return tok.to_string();
        }
    }
    if text.contains("rpc") {
        "gateway".into()
    } else {
        "faults".into()
    }
}

fn lane_rank(name: &str) -> (u32, u64, String) {
    let op = name
        .strip_prefix("operator-")
        .and_then(|i| i.parse::<u64>().ok());
    let r = match name {
        "generator" => 0,
        _ if op.is_some() => 1,
        "aggregator" => 2,
        "challenger" => 3,
        "chain" => 4,
        "gateway" => 5,
        "frame-proxy" => 6,
        "faults" => 7,
        "setup" => 8,
        "sim" => 9,
        _ => 10,
    };
    (r, op.unwrap_or(0), name.to_string())
}

/// Decide every mark, span and lane of the page.
pub fn model(events: &[Event], info: &RunInfo) -> Model {
    let mut nodes: BTreeSet<String> = events.iter().map(|e| e.node.clone()).collect();
    for e in events {
        if let EventKind::Fault { fault } | EventKind::FaultHealed { fault } = &e.kind {
            for tok in fault.split_whitespace() {
                if tok.starts_with("operator-")
                    || ["generator", "aggregator", "challenger"].contains(&tok)
                {
                    nodes.insert(tok.to_string());
                }
            }
        }
    }
    let mut m = Model {
        title: info.title.clone(),
        verdict: info.verdict.clone(),
        ..Model::default()
    };
    // Open spans: (lane, what) → start.
    let mut open: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    let mut has_violation_events = false;
    for e in events {
        m.end_ms = m.end_ms.max(e.at_ms);
        let mut lane = e.node.clone();
        let (kind, tip): (&'static str, String) = match &e.kind {
            EventKind::OperatorRegistered { operator, .. } => (
                "registered",
                format!("operator-{operator} registered its BLS key"),
            ),
            EventKind::TaskCreated { task, shown, .. } => {
                ("task_created", format!("task {task} created: {shown}"))
            }
            EventKind::TaskSubmitted {
                task,
                shown,
                block,
                gas,
            } => (
                "task_submitted",
                format!("task {task} created: {shown} (block {block}, gas {gas})"),
            ),
            EventKind::ResponseSent {
                task,
                operator,
                shown,
                ..
            } => (
                "response_sent",
                format!("operator-{operator} sent response {shown} for task {task}"),
            ),
            EventKind::ResponseReceived { task, operator } => (
                "response_received",
                format!("received task {task} response from operator-{operator}"),
            ),
            EventKind::ResponseRejected {
                task,
                operator,
                reason,
            } => (
                "response_rejected",
                format!("rejected task {task} response from operator-{operator}: {reason}"),
            ),
            EventKind::AggregateSubmitted {
                task,
                signers,
                non_signers,
                tx,
                gas,
            } => (
                "aggregate_submitted",
                format!(
                    "aggregate for task {task} submitted: {signers} signers, {non_signers} non-signers, gas {gas}, tx {}",
                    short(tx)
                ),
            ),
            EventKind::TaskAccepted {
                task,
                shown,
                signers: s,
                signed_weight,
                ..
            } => (
                "task_accepted",
                format!(
                    "task {task} accepted: response {shown}, signers {}, signed weight {signed_weight}",
                    signers(s)
                ),
            ),
            EventKind::TaskExpired { task, reason } => {
                ("task_expired", format!("task {task} expired: {reason}"))
            }
            EventKind::TaskSettled {
                task,
                actual_threshold,
                rewarded,
                slashed,
            } => (
                "task_settled",
                format!(
                    "task {task} settled: actual threshold {actual_threshold}%, rewarded {}, slashed {}",
                    signers(rewarded),
                    signers(slashed)
                ),
            ),
            EventKind::TxSent { .. } => continue,
            EventKind::TxMined {
                hash,
                block,
                status,
            } => {
                if *status {
                    // Successful transactions are counted in their block's tooltip.
                    continue;
                }
                (
                    "tx_reverted",
                    format!("tx {} reverted in block {block}", short(hash)),
                )
            }
            EventKind::BlockMined {
                number,
                hash,
                timestamp,
                txs,
            } => (
                "block",
                format!(
                    "block {number} ({txs} txs), timestamp {timestamp}, hash {}",
                    short(hash)
                ),
            ),
            EventKind::Fault { fault } => {
                lane = fault_lane(&e.node, fault, &nodes);
                let k = fault_kind(fault, false);
                match k {
                    "crash" => {
                        open.entry((lane.clone(), "down")).or_insert(e.at_ms);
                    }
                    "partition" => {
                        open.entry((lane.clone(), "partitioned")).or_insert(e.at_ms);
                    }
                    "rpc" if fault.trim() == "rpc outage" => {
                        open.entry((lane.clone(), "rpc outage")).or_insert(e.at_ms);
                    }
                    _ => {}
                }
                (k, format!("fault: {fault}"))
            }
            EventKind::FaultHealed { fault } => {
                lane = fault_lane(&e.node, fault, &nodes);
                let k = fault_kind(fault, true);
                let what = match k {
                    "restart" => Some("down"),
                    "partition_end" => Some("partitioned"),
                    "rpc" => Some("rpc outage"),
                    _ => None,
                };
                if let Some(what) = what
                    && let Some(from) = open.remove(&(lane.clone(), what))
                {
                    m.spans.push(Span {
                        lane: lane.clone(),
                        what,
                        from,
                        to: Some(e.at_ms),
                    });
                }
                (k, format!("healed: {fault}"))
            }
            EventKind::PhaseChanged { phase } => {
                m.phases.push((e.at_ms, phase.clone()));
                continue;
            }
            EventKind::Note { text } => ("note", text.clone()),
            EventKind::Violation { invariant, detail } => {
                has_violation_events = true;
                m.violations.push(m.marks.len());
                (
                    "violation",
                    format!("invariant `{invariant}` broken: {detail}"),
                )
            }
        };
        let label = match &e.kind {
            EventKind::TaskCreated { task, .. }
            | EventKind::TaskSubmitted { task, .. }
            | EventKind::AggregateSubmitted { task, .. }
            | EventKind::TaskAccepted { task, .. }
            | EventKind::TaskExpired { task, .. }
            | EventKind::TaskSettled { task, .. } => format!("#{task}"),
            _ => String::new(),
        };
        m.marks.push(Mark {
            t: e.at_ms,
            lane,
            kind,
            tip: format!("{} · {} · {tip}", fmt_s(e.at_ms), e.node),
            label,
        });
    }
    if !has_violation_events && let Some(v) = &info.violation {
        // The checker saw the event that broke the invariant just before it failed: the
        // latest event at that time (in trace order) is where it happened.
        let lane = events
            .iter()
            .rev()
            .find(|e| e.at_ms == v.at_ms && e.node != "sim" && e.node != "faults")
            .map(|e| match &e.kind {
                EventKind::Fault { fault } | EventKind::FaultHealed { fault } => {
                    fault_lane(&e.node, fault, &nodes)
                }
                _ => e.node.clone(),
            })
            .unwrap_or_else(|| "sim".into());
        m.end_ms = m.end_ms.max(v.at_ms);
        m.violations.push(m.marks.len());
        m.marks.push(Mark {
            t: v.at_ms,
            lane,
            kind: "violation",
            tip: format!(
                "{} · {} invariant `{}` broken: {}",
                fmt_s(v.at_ms),
                v.class,
                v.invariant,
                v.detail
            ),
            label: String::new(),
        });
    }
    for ((lane, what), from) in open {
        m.spans.push(Span {
            lane,
            what,
            from,
            to: None,
        });
    }
    m.spans
        .sort_by(|a, b| (a.from, &a.lane).cmp(&(b.from, &b.lane)));
    let mut lanes: BTreeSet<String> = m.marks.iter().map(|k| k.lane.clone()).collect();
    lanes.extend(m.spans.iter().map(|s| s.lane.clone()));
    for core in ["generator", "aggregator", "chain"] {
        lanes.insert(core.to_string());
    }
    let mut lanes: Vec<String> = lanes.into_iter().collect();
    lanes.sort_by_key(|l| lane_rank(l));
    m.lanes = lanes;
    let safety = m
        .phases
        .iter()
        .find(|(_, p)| p == "safety")
        .map(|(t, _)| *t)
        .unwrap_or(0);
    m.focus_ms = safety.saturating_sub(2000);
    m
}

/// Escape text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that can sit inside `<script>`: no `<`, `>` or `&` anywhere (they only occur inside
/// strings, where `\u003c` means the same), and no U+2028/2029 (line breaks to old JS).
pub fn script_json<T: Serialize>(v: &T) -> String {
    let raw = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    let mut out = String::with_capacity(raw.len() + 16);
    for c in raw.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn render(events: &[Event], info: &RunInfo) -> String {
    let m = model(events, info);
    let mut html = String::with_capacity(64 * 1024 + m.marks.len() * 160);
    let title = escape_html(&m.title);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>exoavs sim timeline — {title}</title>\n<style>{CSS}</style></head><body>\n\
         <header><h1>exoavs sim · {title}</h1>"
    );
    if let Some(v) = &m.verdict {
        let _ = write!(html, "<div class=\"verdict\">{}</div>", escape_html(v));
    }
    html.push_str("</header>\n");
    if let Some(&i) = m.violations.first() {
        let v = &m.marks[i];
        let _ = writeln!(
            html,
            "<div id=\"violation-banner\" data-lane=\"{}\" data-t=\"{}\">⚠ INVARIANT VIOLATION on <b>{}</b> at {}: {}{}</div>",
            escape_html(&v.lane),
            v.t,
            escape_html(&v.lane),
            fmt_s(v.t),
            // The tooltip without its leading time (already said).
            escape_html(v.tip.split_once(" · ").map(|(_, r)| r).unwrap_or(&v.tip)),
            if m.violations.len() > 1 {
                format!(" (and {} more)", m.violations.len() - 1)
            } else {
                String::new()
            }
        );
    }
    html.push_str(
        "<div id=\"controls\"><label><input type=\"checkbox\" id=\"show-setup\"> show setup</label>\
         <label>zoom <input type=\"range\" id=\"zoom\" min=\"1\" max=\"12\" value=\"1\" step=\"1\"></label>\
         <span id=\"hover\"></span></div>\n<div id=\"legend\"></div>\n\
         <div id=\"chart\"><div id=\"labels\"></div><div id=\"scroll\"><svg id=\"tl\" xmlns=\"http://www.w3.org/2000/svg\"></svg></div></div>\n",
    );
    details(&mut html, &m);
    let _ = write!(
        html,
        "<script id=\"run-data\" type=\"application/json\">{}</script>\n<script>const KINDS={};</script>\n<script>{JS}</script>\n</body></html>\n",
        script_json(&m),
        script_json(&KINDS)
    );
    html
}

/// The details lists below the chart (plain HTML, readable without the script).
fn details(html: &mut String, m: &Model) {
    let list = |html: &mut String, id: &str, title: &str, kinds: &[&str]| {
        let rows: Vec<&Mark> = m.marks.iter().filter(|k| kinds.contains(&k.kind)).collect();
        let _ = write!(
            html,
            "<details id=\"{id}\" open><summary>{title} ({})</summary><ul>",
            rows.len()
        );
        for r in rows {
            let _ = write!(
                html,
                "<li class=\"k-{}\"><span class=\"sw\" style=\"background:{}\"></span>{}</li>",
                r.kind,
                colour(r.kind),
                escape_html(&r.tip)
            );
        }
        html.push_str("</ul></details>\n");
    };
    html.push_str("<section id=\"details\">\n");
    list(
        html,
        "list-violations",
        "Invariant violations",
        &["violation"],
    );
    list(
        html,
        "list-rejections",
        "Rejected responses",
        &["response_rejected"],
    );
    list(
        html,
        "list-tasks",
        "Tasks",
        &[
            "task_submitted",
            "task_created",
            "aggregate_submitted",
            "task_accepted",
            "task_expired",
            "task_settled",
        ],
    );
    list(
        html,
        "list-faults",
        "Injected faults",
        &[
            "crash",
            "restart",
            "partition",
            "partition_end",
            "frame",
            "rpc",
            "reorg",
            "fork",
            "fault",
            "tx_reverted",
        ],
    );
    html.push_str("</section>\n");
}

fn colour(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, _, c)| *c)
        .unwrap_or("#888")
}

const CSS: &str = r#"
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#0f172a;background:#f8fafc}
header{padding:10px 16px 4px}h1{font-size:18px;margin:0 0 2px}
.verdict{font-family:ui-monospace,Menlo,monospace;font-size:12px;color:#334155;white-space:pre-wrap}
#violation-banner{margin:6px 16px;padding:8px 12px;background:#fee2e2;border:2px solid #dc2626;color:#7f1d1d;font-weight:600;border-radius:6px}
#controls{padding:4px 16px;display:flex;gap:18px;align-items:center;color:#334155}
#hover{font-family:ui-monospace,Menlo,monospace;font-size:12px;color:#0f172a}
#legend{padding:2px 16px 6px;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;color:#334155}
#legend>span{cursor:pointer;user-select:none}#legend>span.off{opacity:.35;text-decoration:line-through}
#legend span.sw,.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
#chart{display:flex;margin:0 16px;background:#fff;border:1px solid #e2e8f0;border-radius:6px}
#labels{flex:none;width:110px;border-right:1px solid #e2e8f0;font-size:12px}
#labels div{box-sizing:border-box;padding:0 8px;display:flex;align-items:center;justify-content:flex-end;font-weight:600;color:#334155}
#scroll{flex:1;overflow-x:auto}
svg text{font-size:11px;fill:#475569}
.mark{cursor:default}.mark:hover{filter:brightness(1.3)}
#details{padding:8px 16px 24px}
#details ul{margin:4px 0 10px;padding-left:18px;font-family:ui-monospace,Menlo,monospace;font-size:12px;max-height:260px;overflow:auto}
#details li{list-style:none}
summary{font-weight:600;cursor:pointer}
#list-violations li{color:#b91c1c;font-weight:600}
"#;

const JS: &str = r#"
(function(){
const M=JSON.parse(document.getElementById('run-data').textContent);
const NS='http://www.w3.org/2000/svg';
const LANE_H=34, TOP=26, BOTTOM=8, LABEL_W=110;
const colour={};KINDS.forEach(k=>colour[k[0]]=k[2]);
const laneIx={};M.lanes.forEach((l,i)=>laneIx[l]=i);
const svg=document.getElementById('tl');
const setup=document.getElementById('show-setup');
const zoom=document.getElementById('zoom');
const hover=document.getElementById('hover');
// Legend: only the kinds this run has.
const present=new Set(M.marks.map(m=>m.kind));
const legend=document.getElementById('legend');
// Clicking a legend entry hides or shows that kind of mark.
const hidden=new Set();
KINDS.forEach(k=>{if(!present.has(k[0]))return;const s=document.createElement('span');
 const sw=document.createElement('span');sw.className='sw';sw.style.background=k[2];s.appendChild(sw);
 s.appendChild(document.createTextNode(k[1]));s.setAttribute('data-legend',k[0]);s.title='click: hide/show';
 s.addEventListener('click',()=>{if(hidden.has(k[0]))hidden.delete(k[0]);else hidden.add(k[0]);
  s.classList.toggle('off',hidden.has(k[0]));
  svg.querySelectorAll('g.mark[data-kind="'+k[0]+'"]').forEach(g=>g.style.display=hidden.has(k[0])?'none':'');});
 legend.appendChild(s);});
const labels=document.getElementById('labels');
labels.style.paddingTop=TOP+'px';
M.lanes.forEach(l=>{const d=document.createElement('div');d.className='lane';d.setAttribute('data-lane',l);d.style.height=LANE_H+'px';d.textContent=l;labels.appendChild(d);});
function el(name,attrs,parent){const e=document.createElementNS(NS,name);for(const k in attrs)e.setAttribute(k,attrs[k]);if(parent)parent.appendChild(e);return e;}
function shape(g,kind,x,y){const c=colour[kind]||'#888';
 switch(kind){
 case 'block': el('rect',{x:x-0.75,y:y-7,width:1.5,height:14,fill:c},g);break;
 case 'note': el('circle',{cx:x,cy:y,r:2.5,fill:c,stroke:'#94a3b8','stroke-width':0.5},g);break;
 case 'response_rejected': el('path',{d:`M${x-5},${y-5}L${x+5},${y+5}M${x-5},${y+5}L${x+5},${y-5}`,stroke:c,'stroke-width':3,'stroke-linecap':'round'},g);break;
 case 'aggregate_submitted': el('path',{d:`M${x},${y-7}L${x+7},${y}L${x},${y+7}L${x-7},${y}Z`,fill:c,stroke:'#78350f','stroke-width':0.8},g);break;
 case 'task_accepted': el('path',{d:`M${x-6},${y}L${x-2},${y+5}L${x+7},${y-6}`,fill:'none',stroke:c,'stroke-width':3.2,'stroke-linecap':'round','stroke-linejoin':'round'},g);break;
 case 'task_expired': el('path',{d:`M${x-6},${y-6}L${x+6},${y-6}L${x},${y+6}Z`,fill:c},g);break;
 case 'task_created': case 'task_submitted': el('rect',{x:x-5,y:y-5,width:10,height:10,rx:2,fill:c},g);break;
 case 'task_settled': el('circle',{cx:x,cy:y,r:6,fill:c,stroke:'#99f6e4','stroke-width':2.5},g);break;
 case 'crash': el('path',{d:`M${x+2},${y-9}L${x-5},${y+1}L${x},${y+1}L${x-2},${y+9}L${x+5},${y-1}L${x},${y-1}Z`,fill:c},g);break;
 case 'violation':
  el('line',{x1:x,y1:-2000,x2:x,y2:4000,stroke:c,'stroke-width':1.5,'stroke-dasharray':'4 3'},g);
  el('path',{d:`M${x},${y-13}L${x+12},${y+9}L${x-12},${y+9}Z`,fill:c,stroke:'#450a0a','stroke-width':1.5},g);
  el('text',{x:x,y:y+6,'text-anchor':'middle',style:'font-weight:800;font-size:13px;fill:#fff'},g).textContent='!';break;
 case 'fault': case 'frame': case 'rpc': case 'reorg': case 'fork': case 'tx_reverted':
  el('rect',{x:x-4.5,y:y-4.5,width:9,height:9,fill:c,transform:`rotate(45 ${x} ${y})`},g);break;
 case 'partition': case 'partition_end': case 'restart':
  el('circle',{cx:x,cy:y,r:5.5,fill:'#fff',stroke:c,'stroke-width':3},g);break;
 default: el('circle',{cx:x,cy:y,r:4.5,fill:c},g);
 }}
function draw(){
 while(svg.firstChild)svg.removeChild(svg.firstChild);
 const t0=setup.checked?0:M.focus_ms, t1=Math.max(M.end_ms+1000,t0+1000);
 const avail=Math.max(400,document.getElementById('scroll').clientWidth-4);
 const W=Math.round(avail*Number(zoom.value));
 const H=TOP+M.lanes.length*LANE_H+BOTTOM;
 svg.setAttribute('width',W);svg.setAttribute('height',H);
 const X=t=>8+(t-t0)*(W-16)/(t1-t0);
 const Y=l=>TOP+laneIx[l]*LANE_H+LANE_H/2;
 M.lanes.forEach((l,i)=>el('rect',{class:'lane-band','data-lane':l,x:0,y:TOP+i*LANE_H,width:W,height:LANE_H,fill:i%2?'#f8fafc':'#fff'},svg));
 // Axis: simulated seconds.
 const span=(t1-t0)/1000, px=(W-16)/span;
 const step=[0.1,0.2,0.5,1,2,5,10,20,30,60,120,300].find(s=>s*px>=70)||600;
 const axis=el('g',{id:'axis'},svg);
 for(let s=Math.ceil(t0/1000/step)*step;s*1000<=t1;s+=step){const x=X(s*1000);
  el('line',{x1:x,y1:TOP-4,x2:x,y2:H-BOTTOM,stroke:'#e2e8f0'},axis);
  el('text',{x:x,y:TOP-8,'text-anchor':'middle'},axis).textContent=(Math.round(s*10)/10)+' s';}
 // Phases.
 M.phases.forEach((p,i)=>{const x=X(p[0]);const g=el('g',{class:'phase','data-phase':p[1]},svg);
  el('line',{x1:x,y1:TOP-2,x2:x,y2:H-BOTTOM,stroke:p[1]==='liveness'?'#16a34a':'#f59e0b','stroke-width':1.5,'stroke-dasharray':'6 4'},g);
  const right=x>W-190;
  el('text',{x:right?x-4:x+4,y:H-BOTTOM-3-12*(M.phases.length-1-i),'text-anchor':right?'end':'start',style:'font-weight:600'},g).textContent=p[1]==='liveness'?'healed: liveness phase':p[1]==='safety'?'safety phase (faults on)':p[1];
  el('title',{},g).textContent=(p[0]/1000).toFixed(3)+' s: '+p[1]+' phase';});
 // Spans.
 M.spans.forEach(s=>{const y=TOP+laneIx[s.lane]*LANE_H;const x0=X(s.from),x1=X(s.to==null?t1:s.to);
  const c=s.what==='down'?'#111827':s.what==='partitioned'?'#a855f7':'#ca8a04';
  const g=el('g',{class:'span','data-what':s.what,'data-lane':s.lane},svg);
  el('rect',{x:x0,y:y+3,width:Math.max(2,x1-x0),height:LANE_H-6,fill:c,'fill-opacity':0.13,stroke:c,'stroke-opacity':0.5,'stroke-dasharray':'3 2',rx:3},g);
  el('text',{x:x0+4,y:y+LANE_H-6,style:'font-size:10px'},g).textContent=s.what;
  el('title',{},g).textContent=s.lane+' '+s.what+' from '+(s.from/1000).toFixed(3)+' s'+(s.to==null?' to the end':' to '+(s.to/1000).toFixed(3)+' s');});
 // Marks: ones closer than 5 px on a lane are stacked so that none hides another.
 // Drawn in time order per lane (for stacking), but painted so that what matters is on top.
 const last={};const pos={};
 M.marks.forEach((m,i)=>{if(m.kind==='violation')return;const x=X(m.t);let y=Y(m.lane);
  if(m.kind==='note')y+=11;else if(m.kind!=='block'){const prev=last[m.lane];
   const row=(prev&&x-prev.x<5)?(prev.row+1)%5:0;last[m.lane]={x:x,row:row};y+=[0,-8,8,-14,14][row];}
  pos[i]=[x,y];});
 M.violations.forEach(i=>{pos[i]=[X(M.marks[i].t),Y(M.marks[i].lane)];});
 const z={note:0,block:0,registered:1,response_received:1,response_sent:2,response_rejected:4,aggregate_submitted:5,violation:9};
 const order=M.marks.map((m,i)=>i).sort((a,b)=>((z[M.marks[a].kind]??3)-(z[M.marks[b].kind]??3))||(a-b));
 order.forEach(i=>{const m=M.marks[i];const x=pos[i][0],y=pos[i][1];
  const g=el('g',{class:'mark','data-kind':m.kind,'data-lane':m.lane,'data-t':m.t,'data-x':x.toFixed(1),'data-y':y.toFixed(1)},svg);
  if(hidden.has(m.kind))g.style.display='none';
  if(m.kind==='violation')g.setAttribute('id','violation-mark-'+M.violations.indexOf(i));
  shape(g,m.kind,x,y);
  if(m.label)el('text',{x:x,y:y-9,'text-anchor':'middle',style:'font-size:9px;font-weight:700;fill:#1e293b'},g).textContent=m.label;
  el('title',{},g).textContent=m.tip;
  g.addEventListener('mouseenter',()=>{hover.textContent=m.tip;});
 });
 svg.setAttribute('data-drawn',String(M.marks.length));
}
setup.addEventListener('change',draw);zoom.addEventListener('input',draw);
window.addEventListener('resize',draw);
draw();
document.body.setAttribute('data-ready','1');
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_ms: u64, node: &str, kind: EventKind) -> Event {
        Event {
            at_ms,
            node: node.into(),
            kind,
        }
    }

    fn sample() -> Vec<Event> {
        vec![
            ev(
                1000,
                "sim",
                EventKind::PhaseChanged {
                    phase: "safety".into(),
                },
            ),
            ev(1500, "chain", EventKind::sum_task_created(1, 2, 3)),
            ev(1600, "operator-1", EventKind::sum_response_sent(1, 1, 5)),
            ev(
                1700,
                "aggregator",
                EventKind::ResponseRejected {
                    task: 1,
                    operator: 1,
                    reason: "evil</script><img src=x onerror=alert(1)>&\"'".into(),
                },
            ),
            ev(
                1800,
                "faults",
                EventKind::Fault {
                    fault: "crash operator-1".into(),
                },
            ),
            ev(
                2800,
                "faults",
                EventKind::FaultHealed {
                    fault: "restart operator-1".into(),
                },
            ),
            ev(
                3000,
                "faults",
                EventKind::Fault {
                    fault: "partition aggregator".into(),
                },
            ),
            ev(
                3100,
                "operator-2",
                EventKind::Fault {
                    fault: "frame lost".into(),
                },
            ),
            ev(
                3200,
                "gateway",
                EventKind::Fault {
                    fault: "rpc Error eth_call from operator-2".into(),
                },
            ),
            ev(
                3300,
                "chain",
                EventKind::BlockMined {
                    number: 9,
                    hash: "0xabc".into(),
                    timestamp: 3,
                    txs: 1,
                },
            ),
            ev(
                3300,
                "chain",
                EventKind::TxMined {
                    hash: "0x1".into(),
                    block: 9,
                    status: true,
                },
            ),
        ]
    }

    #[test]
    fn faults_go_to_the_lane_they_hit_and_spans_close() {
        let m = model(&sample(), &RunInfo::default());
        let crash = m.marks.iter().find(|k| k.kind == "crash").unwrap();
        assert_eq!(crash.lane, "operator-1");
        let restart = m.marks.iter().find(|k| k.kind == "restart").unwrap();
        assert_eq!(restart.lane, "operator-1");
        assert_eq!(
            m.spans,
            vec![
                Span {
                    lane: "operator-1".into(),
                    what: "down",
                    from: 1800,
                    to: Some(2800)
                },
                Span {
                    lane: "aggregator".into(),
                    what: "partitioned",
                    from: 3000,
                    to: None
                },
            ]
        );
        let kinds: Vec<(&str, &str)> = m.marks.iter().map(|k| (k.kind, k.lane.as_str())).collect();
        assert!(kinds.contains(&("frame", "operator-2")));
        assert!(kinds.contains(&("rpc", "gateway")));
        // A successful tx is folded into its block; the phase is a line, not a mark.
        assert_eq!(m.marks.len(), sample().len() - 2);
        assert_eq!(
            m.lanes,
            [
                "generator",
                "operator-1",
                "operator-2",
                "aggregator",
                "chain",
                "gateway"
            ]
        );
        assert_eq!(m.focus_ms, 0);
    }

    #[test]
    fn untrusted_text_is_escaped_in_html_and_in_the_embedded_json() {
        let html = render(
            &sample(),
            &RunInfo {
                title: "t<b>".into(),
                ..Default::default()
            },
        );
        assert!(
            !html.contains("<img"),
            "markup from a peer reached the page"
        );
        assert_eq!(
            html.matches("</script>").count(),
            3,
            "only our own scripts close"
        );
        assert!(
            html.contains("evil&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#39;")
        );
        assert!(html.contains("t&lt;b&gt;"));
        // The JSON still decodes to the original reason.
        let start = html.find("type=\"application/json\">").unwrap() + 24;
        let end = start + html[start..].find("</script>").unwrap();
        let v: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
        let tips: Vec<&str> = v["marks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["tip"].as_str().unwrap())
            .collect();
        assert!(
            tips.iter()
                .any(|t| t.ends_with("evil</script><img src=x onerror=alert(1)>&\"'"))
        );
        assert_eq!(script_json(&"\u{2028}<&>"), r#""\u2028\u003c\u0026\u003e""#);
    }

    #[test]
    fn same_trace_same_page_and_violations_are_marked() {
        let info = RunInfo {
            title: "x".into(),
            verdict: Some("FAIL".into()),
            violation: Some(ViolationInfo {
                at_ms: 1700,
                class: "Safety".into(),
                invariant: "inv".into(),
                detail: "d".into(),
            }),
        };
        let a = render(&sample(), &info);
        assert_eq!(a, render(&sample(), &info));
        let m = model(&sample(), &info);
        let v = &m.marks[m.violations[0]];
        assert_eq!((v.t, v.lane.as_str()), (1700, "aggregator"));
        assert!(a.contains("id=\"violation-banner\" data-lane=\"aggregator\" data-t=\"1700\""));
        // A Violation event in the trace wins over the report's.
        let mut evs = sample();
        evs.push(ev(
            3100,
            "chain",
            EventKind::Violation {
                invariant: "i2".into(),
                detail: "d2".into(),
            },
        ));
        let m = model(&evs, &info);
        assert_eq!(m.violations.len(), 1);
        assert_eq!(m.marks[m.violations[0]].lane, "chain");
        // Without a violation there is no banner.
        assert!(!render(&sample(), &RunInfo::default()).contains("id=\"violation-banner\""));
    }
}
