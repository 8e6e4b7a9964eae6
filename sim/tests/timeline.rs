//! The HTML timeline, checked in a real browser: a faulty run (byzantine operators, a crash,
//! a partition) and a run with a planted bug are rendered, opened in headless Chromium, and
//! what the page's script drew (the DOM after it ran) is compared with the run's trace.
//!
//! Needs Chromium: `bash scripts/install-chromium.sh` (Debian's `chromium` package), or
//! `EXOAVS_CHROMIUM=/path/to/chrome`. Without it the test fails and says so.
#![cfg(madsim)]

use exoavs::protocol::aggregator::AggregatorBugs;
use exoavs_sim::anvil::ChainSlot;
use exoavs_sim::protocol_roles::Exoavs;
use exoavs_sim::runner::{timeline_command, timeline_html};
use exoavs_sim::scenario::{self, Scenario};
use exoavs_sim::trace::{Event, EventKind};
use exoavs_sim::world::{Report, run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const MISSING: &str = "Chromium not found: the timeline test opens the page in headless Chromium. \
     Install it with `bash scripts/install-chromium.sh` (as root; Debian's `chromium` package) \
     or set EXOAVS_CHROMIUM to a Chromium/Chrome binary.";

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("EXOAVS_CHROMIUM") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "EXOAVS_CHROMIUM={}: no such file. {MISSING}",
            p.display()
        );
        return p;
    }
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
        {
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !p.is_empty() {
                return PathBuf::from(p);
            }
        }
    }
    panic!("{MISSING}");
}

/// Write the page, let Chromium run its script, return the DOM it ended with.
fn browser_dom(html: &str, name: &str) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("timeline");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let file = dir.join(name);
    std::fs::write(&file, html).expect("write page");
    let profile = dir.join(format!("{name}.profile"));
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1400,900",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot start Chromium ({e}). {MISSING}"));
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("data-ready=\"1\""),
        "Chromium did not run the page's script ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// One mark the script drew.
#[derive(Debug, Clone)]
struct Drawn {
    kind: String,
    lane: String,
    t: u64,
    x: f64,
    y: f64,
    title: String,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = start + tag[start..].find('"')?;
    Some(tag[start..end].to_string())
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The `<g class="mark" …>` elements of the drawn SVG, with their tooltip text.
fn drawn_marks(dom: &str) -> Vec<Drawn> {
    let mut v = Vec::new();
    for chunk in dom.split("<g class=\"mark\"").skip(1) {
        let tag = &chunk[..chunk.find('>').expect("tag end")];
        let tag = format!(" {tag}");
        let body = &chunk[..chunk.find("</g>").expect("group end")];
        let title = body
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .map(unescape)
            .unwrap_or_default();
        let num = |n: &str| -> f64 {
            attr(&tag, n)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("mark without {n}: {tag}"))
        };
        v.push(Drawn {
            kind: attr(&tag, "data-kind").expect("kind"),
            lane: attr(&tag, "data-lane").expect("lane"),
            t: num("data-t") as u64,
            x: num("data-x"),
            y: num("data-y"),
            title,
        });
    }
    v
}

/// Lane name → (top, bottom) of its band in the SVG.
fn lane_bands(dom: &str) -> BTreeMap<String, (f64, f64)> {
    let mut m = BTreeMap::new();
    for chunk in dom.split("<rect class=\"lane-band\"").skip(1) {
        let tag = format!(" {}", &chunk[..chunk.find('>').expect("tag end")]);
        let y: f64 = attr(&tag, "y").and_then(|s| s.parse().ok()).expect("y");
        let h: f64 = attr(&tag, "height")
            .and_then(|s| s.parse().ok())
            .expect("h");
        m.insert(attr(&tag, "data-lane").expect("lane"), (y, y + h));
    }
    m
}

/// What the trace says must be drawn, worked out here from the events themselves:
/// (kind, lane) → count. Faults injected by the fault driver belong to the node they hit.
fn expected(events: &[Event]) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for e in events {
        let (kind, lane) = match &e.kind {
            EventKind::ResponseSent { .. } => ("response_sent", e.node.clone()),
            EventKind::ResponseReceived { .. } => ("response_received", e.node.clone()),
            EventKind::ResponseRejected { .. } => ("response_rejected", e.node.clone()),
            EventKind::TaskCreated { .. } => ("task_created", e.node.clone()),
            EventKind::TaskSubmitted { .. } => ("task_submitted", e.node.clone()),
            EventKind::AggregateSubmitted { .. } => ("aggregate_submitted", e.node.clone()),
            EventKind::TaskAccepted { .. } => ("task_accepted", e.node.clone()),
            EventKind::TaskExpired { .. } => ("task_expired", e.node.clone()),
            EventKind::TaskSettled { .. } => ("task_settled", e.node.clone()),
            EventKind::BlockMined { .. } => ("block", e.node.clone()),
            EventKind::Fault { fault } if e.node == "faults" => {
                if let Some(n) = fault.strip_prefix("crash ") {
                    ("crash", n.to_string())
                } else if let Some(n) = fault.strip_prefix("partition ") {
                    ("partition", n.to_string())
                } else {
                    continue;
                }
            }
            EventKind::FaultHealed { fault } if e.node == "faults" => {
                if let Some(n) = fault.strip_prefix("restart ") {
                    ("restart", n.to_string())
                } else if let Some(n) = fault.strip_prefix("heal partition ") {
                    ("partition_end", n.to_string())
                } else {
                    continue;
                }
            }
            EventKind::Fault { fault } if fault.starts_with("frame ") => ("frame", e.node.clone()),
            EventKind::Fault { fault } if e.node == "gateway" && fault.starts_with("rpc ") => {
                ("rpc", "gateway".to_string())
            }
            _ => continue,
        };
        *m.entry((kind.to_string(), lane)).or_default() += 1;
    }
    m
}

fn counts(drawn: &[Drawn], kinds: &[&String]) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for d in drawn {
        if kinds.contains(&&d.kind) {
            *m.entry((d.kind.clone(), d.lane.clone())).or_default() += 1;
        }
    }
    m
}

/// Every mark sits on its own lane's band, and later marks are never left of earlier ones.
fn placed_on_lanes_and_time_axis(drawn: &[Drawn], bands: &BTreeMap<String, (f64, f64)>) {
    for d in drawn {
        let (top, bottom) = bands
            .get(&d.lane)
            .unwrap_or_else(|| panic!("no lane band for {}", d.lane));
        assert!(
            d.y >= *top && d.y <= *bottom,
            "{d:?} drawn outside its lane ({top}..{bottom})"
        );
    }
    let mut by_t = drawn.to_vec();
    by_t.sort_by(|a, b| a.t.cmp(&b.t).then(a.x.total_cmp(&b.x)));
    for w in by_t.windows(2) {
        assert!(
            w[0].x <= w[1].x + 0.05,
            "time axis not monotone: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
}

fn run_one(s: Scenario, roles: Exoavs, seed: u64) -> Report {
    let mut slot = ChainSlot::start().expect("anvil");
    run(Arc::new(roles), Arc::new(s), seed, &mut slot)
}

#[test]
fn faulty_run_timeline_shows_every_event_fault_and_rejection_reason() {
    chromium(); // fail before the run when the browser is missing
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/timeline-demo.toml");
    let s = Scenario::load(&path).expect("demo scenario");
    let r = run_one(s, Exoavs::default(), 1);
    assert!(r.ok(), "{}", r.line());
    let events = r.trace.events();
    let html = timeline_html(&r);
    assert!(html.len() < 1_000_000, "page too big: {} bytes", html.len());
    // Self-contained: nothing is fetched.
    assert!(!html.contains("<script src") && !html.contains("<link") && !html.contains("url("));
    let dom = browser_dom(&html, "faulty.html");
    let drawn = drawn_marks(&dom);

    let want = expected(&events);
    let kinds: Vec<&String> = want.keys().map(|(k, _)| k).collect();
    assert_eq!(
        counts(&drawn, &kinds),
        want,
        "drawn marks differ from the trace"
    );
    // The run is faulty in the ways this test is about (else it proves little).
    for k in [
        "crash",
        "restart",
        "partition",
        "partition_end",
        "response_rejected",
    ] {
        assert!(
            want.keys().any(|(kind, _)| kind == k),
            "the demo run has no {k}"
        );
    }
    assert!(want.contains_key(&("crash".into(), "operator-1".into())));
    assert!(want.contains_key(&("partition".into(), "aggregator".into())));
    // Lasting faults as bands on the node they hit.
    assert!(dom.contains("class=\"span\" data-what=\"down\" data-lane=\"operator-1\""));
    assert!(dom.contains("class=\"span\" data-what=\"partitioned\" data-lane=\"aggregator\""));

    // Each rejection is drawn at its time on the aggregator's lane with its reason in the
    // tooltip, and listed with its reason below the chart.
    let mut rejected: Vec<&Drawn> = drawn
        .iter()
        .filter(|d| d.kind == "response_rejected")
        .collect();
    for e in &events {
        if let EventKind::ResponseRejected {
            task,
            operator,
            reason,
        } = &e.kind
        {
            let text = format!("rejected task {task} response from operator-{operator}: {reason}");
            let pos = rejected
                .iter()
                .position(|d| d.t == e.at_ms && d.lane == e.node && d.title.ends_with(&text))
                .unwrap_or_else(|| panic!("no drawn rejection at {} ms: {text}", e.at_ms));
            rejected.remove(pos);
            assert!(dom.contains(&text), "rejection not listed: {text}");
        }
    }
    for reason in ["provably-wrong", "invalid-signature", "no-registered-key"] {
        assert!(
            drawn.iter().any(|d| d.title.ends_with(reason)),
            "no tooltip names {reason}"
        );
    }
    placed_on_lanes_and_time_axis(&drawn, &lane_bands(&dom));
    assert!(!dom.contains("id=\"violation-banner\""));
    assert!(!drawn.iter().any(|d| d.kind == "violation"));
    // The legend names the kinds drawn.
    for k in ["crash", "partition", "response_rejected", "task_accepted"] {
        assert!(
            dom.contains(&format!("data-legend=\"{k}\"")),
            "legend lacks {k}"
        );
    }
}

#[test]
fn planted_bug_timeline_marks_the_violation_where_it_happened() {
    chromium();
    let s = scenario::by_name("byzantine").expect("scenario");
    let r = run_one(
        s,
        Exoavs {
            bugs: AggregatorBugs {
                skip_signature_checks: true,
                ..Default::default()
            },
            ..Default::default()
        },
        1,
    );
    let v = r.violation.clone().expect("the planted bug is caught");
    assert_eq!(
        timeline_command(&r),
        "cargo sim --scenario byzantine --seed 1 --timeline byzantine-1.html"
    );
    let events = r.trace.events();
    let dom = browser_dom(&timeline_html(&r), "violation.html");
    let drawn = drawn_marks(&dom);
    let marks: Vec<&Drawn> = drawn.iter().filter(|d| d.kind == "violation").collect();
    assert!(!marks.is_empty(), "no violation marker drawn");
    let first = marks[0];
    // Where: the node whose event broke the invariant, at that event's time. The trace
    // records the violation itself when the checker reports it; otherwise it is the last
    // event the checker saw at the violation's time.
    let culprit = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Violation { .. } => Some(e.node.clone()),
            _ => None,
        })
        .or_else(|| {
            events
                .iter()
                .rev()
                .find(|e| e.at_ms == v.at_ms && e.node != "sim" && e.node != "faults")
                .map(|e| e.node.clone())
        })
        .expect("an event at the violation's time");
    // The culprit lane did something at that moment (the event that broke the invariant).
    assert!(
        events.iter().any(|e| e.at_ms == v.at_ms
            && e.node == culprit
            && !matches!(e.kind, EventKind::Violation { .. })),
        "no event of {culprit} at {} ms",
        v.at_ms
    );
    let in_trace = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Violation { .. }))
        .count();
    assert_eq!(marks.len(), in_trace.max(1), "one marker per violation");
    assert_eq!(first.t, v.at_ms, "violation drawn at the wrong time");
    assert_eq!(first.lane, culprit, "violation drawn on the wrong lane");
    assert!(first.title.contains(v.invariant), "{}", first.title);
    // Drawn inside that lane's band, between what happened before and after it.
    let bands = lane_bands(&dom);
    let (top, bottom) = bands[&first.lane];
    assert!(first.y >= top && first.y <= bottom);
    for d in &drawn {
        if d.t < first.t {
            assert!(d.x <= first.x + 0.05, "{d:?} right of the violation");
        }
        if d.t > first.t {
            assert!(d.x >= first.x - 0.05, "{d:?} left of the violation");
        }
    }
    // The banner names it.
    let banner = dom
        .split("id=\"violation-banner\"")
        .nth(1)
        .and_then(|b| b.split("</div>").next())
        .expect("violation banner");
    assert!(banner.contains(v.invariant), "{banner}");
    assert!(banner.contains(&format!("data-t=\"{}\"", v.at_ms)));
    assert!(dom.contains("id=\"violation-mark-0\""));
}
