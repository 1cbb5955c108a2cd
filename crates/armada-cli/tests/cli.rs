//! End-to-end tests of the `armada` binary: outputs, reproducibility across thread counts,
//! bad input, and the output-directory contract.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn armada(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_armada")).args(args).output().expect("armada runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("armada-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const SPEC: &str = r#"
name = "cli-test"
horizon = 500
seeds = 12
seed = 3
[[env]]
preset = "bernoulli-hard"
arms = 5
[[env]]
kind = "gaussian"
means = [0.0, 0.5, 1.0]
sigmas = [1.0, 0.5, 2.0]
[[policy]]
name = "ucb"
[[policy]]
name = "thompson"
[[policy]]
name = "exp3-ix"
[[policy]]
name = "epsilon-greedy"
schedule = "decaying"
"#;

fn write_spec(dir: &Path, text: &str) -> String {
    let p = dir.join("spec.in.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
}

#[test]
fn output_files_are_identical_across_thread_counts_and_reruns() {
    let dir = tmp("threads");
    let spec = write_spec(&dir, SPEC);
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    for (out, threads) in [(&a, "1"), (&b, "2")] {
        let o = armada(&["run", &spec, "--out", out.to_str().unwrap(), "--threads", threads, "--quiet"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for f in
        ["spec.toml", "summary.json", "curves.csv", "runs.csv", "report.html", "figures/regret-bernoulli-hard-k5.svg"]
    {
        assert_eq!(read(&a, f), read(&b, f), "{f} differs between 1 and 2 threads");
    }
    // The filled-in spec reproduces the run exactly.
    let filled = a.join("spec.toml");
    let o = armada(&["run", filled.to_str().unwrap(), "--out", c.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["spec.toml", "summary.json", "curves.csv", "runs.csv"] {
        assert_eq!(read(&a, f), read(&c, f), "{f} differs when re-run from spec.toml");
    }
    assert!(read(&a, "timing.json").contains("wall_seconds"));
}

#[test]
fn summary_has_the_contracted_fields() {
    let dir = tmp("summary");
    let spec = write_spec(&dir, SPEC);
    let out = dir.join("out");
    let o = armada(&["run", &spec, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("regret (mean ± 95% CI)") && table.contains("bernoulli-hard-k5"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&read(&out, "summary.json")).unwrap();
    let rows = json["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * 4);
    for row in rows {
        for key in [
            "env",
            "policy",
            "horizon",
            "seeds",
            "mean_regret",
            "ci95_regret",
            "mean_reward",
            "min_frac",
            "opt_frac",
            "win_rate",
            "fit_alpha",
            "fit_beta",
            "fit_lambda1",
            "fit_lambda2",
            "fit_r2",
            "sublinear",
        ] {
            assert!(row.get(key).is_some(), "missing {key} in {row}");
        }
        assert_eq!(row["seeds"], 12);
    }
    // runs.csv: a header and one row per run; curves.csv: one row per checkpoint.
    let runs = read(&out, "runs.csv");
    assert_eq!(runs.lines().next().unwrap(), "env,policy,seed,regret,reward,min_frac,opt_frac");
    assert_eq!(runs.lines().count(), 1 + 2 * 4 * 12);
    let curves = read(&out, "curves.csv");
    assert!(curves.starts_with("env,policy,t,mean_regret,ci95_regret,min_frac,opt_frac\n"));
    let last_t: Vec<&str> = curves.lines().filter(|l| l.starts_with("bernoulli-hard-k5,ucb,")).collect();
    assert_eq!(last_t.last().unwrap().split(',').nth(2), Some("500"));
}

#[test]
fn bad_specs_exit_2_with_the_field_named() {
    let dir = tmp("bad");
    let cases = [
        (
            "horizon = 10\n[[env]]\nkind = \"gaussian\"\nmeans = [0, 1]\nsigma = -1\n[[policy]]\nname = \"ucb\"\n",
            "env[0].sigma",
        ),
        (
            "horizon = 10\n[[env]]\npreset = \"bernoulli-hard\"\narms = 3\n[[policy]]\nname = \"ucbx\"\n",
            "policy[0].name",
        ),
        ("horizon = 10\nfoo = 1\n", "foo"),
        ("horizon = 10\n[[env]]\npreset = \"nope\"\narms = 3\n[[policy]]\nname = \"ucb\"\n", "env[0].preset"),
        ("horizon = \n", "invalid TOML"),
    ];
    for (text, needle) in cases {
        let spec = write_spec(&dir, text);
        let o = armada(&["run", &spec, "--out", dir.join("o").to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(needle) && err.contains("spec.in.toml"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = armada(&["run", "/nonexistent/spec.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read"));
    let o = armada(&["run", "--preset", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("banditbench-mab"));
}

#[test]
fn existing_results_are_not_overwritten_without_force() {
    let dir = tmp("force");
    let spec = write_spec(
        &dir,
        "horizon = 20\nseeds = 2\n[[env]]\npreset = \"bernoulli-easy\"\narms = 3\n[[policy]]\nname = \"ucb\"\n",
    );
    let out = dir.join("out");
    let out_s = out.to_str().unwrap();
    assert!(armada(&["run", &spec, "--out", out_s, "--quiet"]).status.success());
    std::fs::write(out.join("runs.csv"), "sentinel").unwrap();
    let o = armada(&["run", &spec, "--out", out_s, "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(read(&out, "runs.csv"), "sentinel");
    assert!(armada(&["run", &spec, "--out", out_s, "--quiet", "--force"]).status.success());
    assert!(read(&out, "runs.csv").starts_with("env,policy,seed"));
}

#[test]
fn list_shows_every_policy_and_preset() {
    let o = armada(&["list"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for name in armada::policy::POLICIES.iter().map(|p| p.name) {
        assert!(text.contains(&format!("  {name} ")), "{name} missing from list");
    }
    for name in ["bernoulli-easy", "bernoulli-hard", "gaussian-easy", "gaussian-hard", "banditbench-mab", "alpha = 0.5"]
    {
        assert!(text.contains(name), "{name} missing from list");
    }
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_armada"))
        .arg("list")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("armada starts");
    drop(child.stdout.take()); // the reader goes away before anything is read
    let out = child.wait_with_output().expect("armada finishes");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

/// The workspace root, where `examples/` and `data/` live.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn movielens_examples_run_from_the_workspace_root() {
    // The README's promise: after scripts/fetch-movielens-100k.sh, `armada run
    // examples/movielens-*.toml` works from the repository root.
    let root = workspace();
    assert!(
        root.join("data/ml-100k").is_dir(),
        "data/ml-100k is missing: run scripts/fetch-movielens-100k.sh (scripts/install-test-deps.sh does)"
    );
    let dir = tmp("movielens");
    for (example, arms, horizon) in [("movielens-k10", 10, 200), ("movielens-k30", 30, 1000)] {
        let out = dir.join(example);
        let o = Command::new(env!("CARGO_BIN_EXE_armada"))
            .current_dir(&root)
            .args(["run", &format!("examples/{example}.toml"), "--out", out.to_str().unwrap(), "--quiet"])
            .output()
            .expect("armada runs");
        assert!(o.status.success(), "{example}: {}", String::from_utf8_lossy(&o.stderr));
        let summary: serde_json::Value = serde_json::from_str(&read(&out, "summary.json")).unwrap();
        let env = &summary["environments"][0];
        assert_eq!(env["arms"], arms);
        assert_eq!(env["horizon"], horizon);
        assert_eq!(env["contextual"], true);
        let rows = summary["results"].as_array().unwrap();
        let policies: Vec<&str> = rows.iter().map(|r| r["policy"].as_str().unwrap()).collect();
        for p in ["linucb-banditbench", "linucb", "lints", "squarecb", "lin-epsilon-greedy", "random"] {
            assert!(policies.contains(&p), "{example}: {p} missing from {policies:?}");
        }
        let regret = |p: &str| rows.iter().find(|r| r["policy"] == p).unwrap()["mean_regret"].as_f64().unwrap();
        // Every learner beats uniform play on these configurations (30 seeds; the margins in
        // docs/contextual.md are several confidence half-widths).
        for p in ["linucb-banditbench", "lints", "squarecb"] {
            assert!(regret(p) < regret("random"), "{example}: {p} {} vs random {}", regret(p), regret("random"));
        }
        let page = read(&out, "report.html");
        assert!(page.contains("depend on the context"), "{example}: report lacks the contextual environment row");
    }
    // EVOLvE's contextual preset reads the same data from the same place.
    let out = dir.join("evolve-cb");
    let o = Command::new(env!("CARGO_BIN_EXE_armada"))
        .current_dir(&root)
        .args(["run", "--preset", "evolve-cb", "--out", out.to_str().unwrap(), "--quiet", "--no-report"])
        .output()
        .expect("armada runs");
    assert!(o.status.success(), "evolve-cb: {}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_str(&read(&out, "summary.json")).unwrap();
    let envs = summary["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 2);
    assert!(envs.iter().all(|e| e["identity"].as_str().unwrap().ends_with(";scenario=movies")));
}

#[test]
fn a_killed_llm_run_resumes_from_the_cache_without_repeating_calls() {
    use armada_llm::fake_server::FakeServer;
    use std::collections::HashSet;
    use std::time::{Duration, Instant};
    // The agent answers with the first offered name; the server takes 20 ms per answer, so the
    // run lasts long enough to be killed in the middle.
    let server = FakeServer::start(|req| {
        let text = req["messages"][1]["content"].as_str().unwrap_or_default();
        let start = text.rfind("name from [").map_or(0, |i| i + "name from [".len());
        text[start..].split([',', ']']).next().unwrap_or_default().to_string()
    });
    server.set_latency(Duration::from_millis(20));
    let dir = tmp("resume");
    let spec_text = |cache: &Path| {
        format!(
            "name = \"resume\"\nhorizon = 20\nseeds = 4\nseed = 5\n[[env]]\npreset = \"bernoulli-hard\"\narms = 4\n\
             [[policy]]\nname = \"llm\"\nprovider = \"openai\"\nmodel = \"scripted\"\nbase_url = \"{}\"\ncache = \"{}\"\n\
             temperature = 0.5\n",
            server.url(),
            cache.display()
        )
    };
    let spec = write_spec(&dir, &spec_text(&dir.join("cache")));
    let out = dir.join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_armada"))
        .args(["run", &spec, "--out", out.to_str().unwrap(), "--quiet", "--threads", "2"])
        .spawn()
        .expect("armada starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.request_count() < 30 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    let before = server.request_count();
    assert!((30..80).contains(&before), "killed after {before} of 80 calls");
    assert!(!out.join("summary.json").exists(), "a killed run wrote results");
    let o = armada(&["run", &spec, "--out", out.to_str().unwrap(), "--quiet", "--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Every decision was asked for once, except those in flight when the process died (one per
    // worker thread at most).
    let requests = server.requests();
    let distinct: HashSet<String> = requests.iter().map(|r| r.to_string()).collect();
    assert_eq!(distinct.len(), 80);
    assert!(requests.len() <= 80 + 2, "{} calls for 80 decisions", requests.len());
    let agents: serde_json::Value = serde_json::from_str(&read(&out, "agents.json")).unwrap();
    assert!(agents[0]["cache_hits"].as_u64().unwrap() >= before as u64 - 2);
    // The resumed results equal an uninterrupted run's.
    let clean = dir.join("clean");
    let clean_spec = dir.join("clean.toml");
    std::fs::write(&clean_spec, spec_text(&dir.join("cache2"))).unwrap();
    let o = armada(&["run", clean_spec.to_str().unwrap(), "--out", clean.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read(&out, "runs.csv"), read(&clean, "runs.csv"));
}
