//! `report.html` and `figures/`: the expected figures and series exist, the table's numbers
//! match `summary.json`, `armada report DIR` rewrites exactly what `armada run` wrote, and a
//! real browser renders the page without script errors.

use std::path::{Path, PathBuf};
use std::process::Command;

fn armada(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_armada")).args(args).output().expect("armada runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("armada-report-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const SPEC: &str = r#"
name = "report-test"
horizon = 400
seeds = 10
seed = 5
[[env]]
preset = "bernoulli-easy"
arms = 4
[[env]]
kind = "gaussian"
means = [0.0, 1.0]
sigma = 1.0
name = "two <gauss>"
[[policy]]
name = "ucb"
[[policy]]
name = "thompson"
[[policy]]
name = "random"
"#;

/// Runs SPEC into a fresh directory and returns it.
fn run_spec(name: &str, extra: &[&str]) -> PathBuf {
    let dir = tmp(name);
    let spec = dir.join("spec.in.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let out = dir.join("out");
    let mut args = vec!["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(extra);
    let o = armada(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
}

/// The share of a PNG's pixels that are visibly not white (any RGB channel below 200); a
/// transparent pixel counts as blank.
fn inked_share(path: &Path) -> f64 {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let inked = pixels
        .chunks(channels)
        .filter(|p| (channels < 4 || p[3] > 0) && p.iter().take(3.min(channels)).any(|&c| c < 200))
        .count();
    inked as f64 / (pixels.len() / channels) as f64
}

#[test]
fn the_report_has_every_figure_and_the_summary_numbers() {
    let out = run_spec("structure", &[]);
    let html = read(&out, "report.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Self-contained: no external resources of any kind.
    for needle in ["src=\"http", "href=\"http", "<link", "@import", "url("] {
        assert!(!html.contains(needle), "report.html references an external resource ({needle})");
    }
    let envs = ["bernoulli-easy-k4", "two__gauss_"];
    let mut expected = vec!["winrate-matrix".to_string(), "winrate".to_string()];
    for e in envs {
        for kind in ["regret", "regret-log", "optfrac", "minfrac", "fit", "pulls"] {
            expected.push(format!("{kind}-{e}"));
        }
    }
    for name in &expected {
        assert!(html.contains(&format!("<figure id=\"fig-{name}\">")), "figure {name} missing from report.html");
        let svg = read(&out, &format!("figures/{name}.svg"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{name}.svg is not an SVG document");
        assert!(!svg.contains("NaN"), "{name}.svg has NaN coordinates");
        let share = inked_share(&out.join(format!("figures/{name}.png")));
        assert!(share > 0.02, "{name}.png looks blank ({share:.4} of pixels inked)");
    }
    // Every regret plot has one line and one CI band per policy; the fit plot a fitted curve too.
    let regret = read(&out, "figures/regret-bernoulli-easy-k4.svg");
    assert_eq!(regret.matches("class=\"series\"").count(), 3);
    assert_eq!(regret.matches("class=\"band\"").count(), 3);
    for p in ["ucb", "thompson", "random"] {
        assert!(regret.contains(&format!("data-series=\"{p}\"")));
    }
    let fit = read(&out, "figures/fit-bernoulli-easy-k4.svg");
    assert_eq!(fit.matches("class=\"series\"").count(), 6, "data and fitted curve per policy");
    let matrix = read(&out, "figures/winrate-matrix.svg");
    assert_eq!(matrix.matches("class=\"cell\"").count(), 9);
    // The label with markup characters is escaped everywhere.
    assert!(html.contains("two &lt;gauss&gt;") && !html.contains("two <gauss>"));
    // The summary table's numbers are summary.json's.
    let json: serde_json::Value = serde_json::from_str(&read(&out, "summary.json")).unwrap();
    for row in json["results"].as_array().unwrap() {
        let cell = |v: &serde_json::Value, digits: usize| format!("<td>{:.*}</td>", digits, v.as_f64().unwrap());
        let env = row["env"].as_str().unwrap().replace('<', "&lt;").replace('>', "&gt;");
        let prefix =
            format!("<tr><td>{env}</td><td>{}</td><td>{}</td>", row["policy"].as_str().unwrap(), row["horizon"]);
        let start = html.find(&prefix).unwrap_or_else(|| panic!("no table row for {prefix}"));
        let tr = &html[start..start + html[start..].find("</tr>").unwrap()];
        assert!(tr.contains(&cell(&row["mean_regret"], 2)), "{tr}");
        assert!(tr.contains(&cell(&row["ci95_regret"], 2)), "{tr}");
        assert!(tr.contains(&cell(&row["opt_frac"], 3)), "{tr}");
    }
    // The spec that produced the run is in the page.
    assert!(html.contains("name = &quot;report-test&quot;"));
}

#[test]
fn armada_report_rewrites_the_same_page_and_no_report_skips_it() {
    let out = run_spec("rewrite", &[]);
    let written = read(&out, "report.html");
    std::fs::remove_file(out.join("report.html")).unwrap();
    let o = armada(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read(&out, "report.html"), written, "report from files differs from the one written by run");

    let bare = run_spec("bare", &["--no-report"]);
    assert!(!bare.join("report.html").exists() && !bare.join("figures").exists());

    let o = armada(&["report", "/nonexistent/dir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("summary.json"));
}

#[test]
fn the_report_renders_in_a_real_browser() {
    // Chromium comes from scripts/install-test-deps.sh (run by the README's test command).
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("chromium not found: run scripts/install-test-deps.sh first");
    // The issue's acceptance run: the BanditBench grid, 8 configurations × 15 policies.
    let out = tmp("browser").join("banditbench-mab");
    let o = armada(&["run", "--preset", "banditbench-mab", "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = format!("file://{}", out.join("report.html").display());
    let profile = out.join("chromium-profile");
    let shot = out.join("report.png");
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let o = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--window-size=1440,4000")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&page)
        .output()
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "chromium failed: {log}");
    assert!(!log.contains("Uncaught"), "script error in report.html: {log}");
    // The DOM after scripts ran still has the title and all figures.
    let dom = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&page)
        .output()
        .expect("chromium runs");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(dom_text.contains("Armada report — banditbench-mab"));
    assert_eq!(dom_text.matches("<figure").count(), 2 + 8 * 6, "win-rate figures and six per configuration");
    assert_eq!(dom_text.matches("<svg").count(), 2 + 8 * 6);
    // The screenshot is not blank: a good share of its pixels are not white.
    let share = inked_share(&shot);
    assert!(share > 0.01, "screenshot looks blank: {share:.4} of pixels inked");
    eprintln!("screenshot: {} ({:.1}% inked)", shot.display(), 100.0 * share);
}

#[test]
fn several_runs_are_compared_side_by_side() {
    let a = run_spec("cmp-a", &["--no-report"]);
    // A second run of the same configurations with another master seed and name.
    let dir = tmp("cmp-b");
    let spec = dir.join("b.toml");
    std::fs::write(&spec, SPEC.replace("seed = 5", "seed = 6").replace("report-test", "other")).unwrap();
    let b = dir.join("out");
    assert!(
        armada(&["run", spec.to_str().unwrap(), "--out", b.to_str().unwrap(), "--quiet", "--no-report"])
            .status
            .success()
    );
    let cmp = dir.join("cmp");
    let o = armada(&["report", a.to_str().unwrap(), b.to_str().unwrap(), "--out", cmp.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = read(&cmp, "report.html");
    assert!(html.contains("<th>report-test</th><th>other</th>"), "one column per run");
    let overlay = read(&cmp, "figures/compare-regret-bernoulli-easy-k4.svg");
    assert_eq!(overlay.matches("class=\"series\"").count(), 6, "3 policies × 2 runs");
    assert!(overlay.contains("data-series=\"other: thompson\""));
    for name in ["compare-regret-log-bernoulli-easy-k4", "compare-regret-two__gauss_"] {
        assert!(html.contains(&format!("<figure id=\"fig-{name}\">")), "{name}");
    }
    // The regret in each cell is that run's summary.json value.
    let json: serde_json::Value = serde_json::from_str(&read(&b, "summary.json")).unwrap();
    let row = &json["results"][0];
    assert!(html.contains(&format!(
        "{:.2} ± {:.2}",
        row["mean_regret"].as_f64().unwrap(),
        row["ci95_regret"].as_f64().unwrap()
    )));

    let o = armada(&["report", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out"));
    let o = armada(&["report", a.to_str().unwrap(), b.to_str().unwrap(), "--out", a.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}
