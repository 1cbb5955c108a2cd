//! Steps per second of every policy through the full run harness (select, pull, update,
//! regret/MinFrac/OptFrac accounting), one thread, on the peers' 10-arm Bernoulli instance
//! (means 0.10 … 0.80, T = 100 000, 10 seeds) — the same instance ../shared/peers/ref-loop and
//! the peer libraries run. Also: UCB(0.5) and Thompson on BanditBench's hard instance (K = 5
//! and 20, T = 1000, 30 seeds) and the whole `banditbench-mab` preset on all cores.
//!
//! `cargo bench -p armada --bench policies` prints one line per measurement; the median of
//! `REPS` repetitions is reported. Pass a substring to run only matching policies, e.g.
//! `cargo bench -p armada --bench policies -- ucb`.

use armada::env::{EnvKind, EnvPreset, EnvSpec};
use armada::harness::{Experiment, run_experiment};
use armada::policy::{POLICIES, PolicySpec, find_policy};
use std::hint::black_box;
use std::time::Instant;

const REPS: usize = 5;
const PEER_MEANS: [f64; 10] = [0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.65, 0.70, 0.75, 0.80];

fn env(kind: EnvKind, shuffle: bool) -> EnvSpec {
    EnvSpec { shuffle, ..EnvSpec::new(kind) }
}

fn experiment(envs: Vec<EnvSpec>, policies: Vec<PolicySpec>, horizon: u64, seeds: u64) -> Experiment {
    Experiment { name: "bench".into(), horizon, seeds, seed: 1000, checkpoints: 50, envs, policies }
}

/// Median steps per second over REPS repetitions on `threads` threads.
fn measure(exp: &Experiment, threads: usize) -> (f64, f64) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
    let mut rates = Vec::with_capacity(REPS);
    let mut secs = Vec::with_capacity(REPS);
    let mut regret = 0.0;
    for _ in 0..REPS {
        let t0 = Instant::now();
        let recs = pool.install(|| run_experiment(exp, &|_| {}));
        let dt = t0.elapsed().as_secs_f64();
        regret = recs.iter().map(|r| r.final_regret()).sum::<f64>() / recs.len() as f64;
        black_box(&recs);
        rates.push(exp.total_steps() as f64 / dt);
        secs.push(dt);
    }
    rates.sort_by(f64::total_cmp);
    secs.sort_by(f64::total_cmp);
    let _ = regret;
    (rates[REPS / 2], secs[REPS / 2])
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    println!("# one thread, median of {REPS}; K=10 Bernoulli {PEER_MEANS:?}, T=100000, 10 seeds");
    println!("{:28} {:>14} {:>12}", "policy", "steps/s", "ns/step");
    for def in POLICIES.iter().filter(|d| !d.contextual) {
        if !wanted(def.name) {
            continue;
        }
        let exp = experiment(
            vec![env(EnvKind::Bernoulli { means: PEER_MEANS.to_vec() }, false)],
            vec![PolicySpec::with_defaults(def)],
            100_000,
            10,
        );
        let (rate, _) = measure(&exp, 1);
        println!("{:28} {:>14.0} {:>12.1}", def.name, rate, 1e9 / rate);
    }
    if wanted("banditbench") {
        println!("\n# BanditBench hard instance (bernoulli-hard), T=1000, 30 seeds, one thread");
        for k in [5usize, 20] {
            for name in ["ucb", "thompson"] {
                let exp = experiment(
                    vec![env(EnvKind::Preset { preset: EnvPreset::BernoulliHard, arms: k }, true)],
                    vec![PolicySpec::with_defaults(find_policy(name).expect("registered"))],
                    1000,
                    30,
                );
                let (rate, _) = measure(&exp, 1);
                println!("{:28} {:>14.0} {:>12.1}", format!("{name} K={k}"), rate, 1e9 / rate);
            }
        }
        let exp = armada::spec::preset_experiment("banditbench-mab").expect("preset parses");
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let (rate, secs) = measure(&exp, threads);
        println!(
            "\n# preset banditbench-mab: {} runs, {} steps, {threads} threads: {secs:.3} s wall ({:.1} M steps/s)",
            exp.run_count(),
            exp.total_steps(),
            rate / 1e6
        );
    }
}
