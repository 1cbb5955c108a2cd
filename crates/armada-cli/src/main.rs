//! The `armada` command: thin glue over the core crate — argument parsing, progress, files and
//! the terminal table. All science lives in `armada` (core).

mod output;
mod report;

use anyhow::Context;
use armada::harness::{Experiment, run_experiment};
use armada::spec::{self, SpecError};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const EXAMPLES: &str = "\
Examples:
  armada run examples/quickstart.toml            run a spec, write runs/quickstart/
  armada run --preset banditbench-mab --out bb   the BanditBench numeric grid into ./bb
  armada run spec.toml --threads 1 --force       one thread, overwrite an earlier output
  armada report runs/quickstart                  (re)write runs/quickstart/report.html
  armada report runs/a runs/b --out cmp          overlay the same configurations of two runs
  armada list                                    environments, policies, presets, parameters
  armada distill examples/llm-local.toml --out ft  fine-tuning data: UCB's decisions, the agent's prompts";

#[derive(Parser)]
#[command(name = "armada", version, about = "Benchmark exploration: bandit policies on environments, exact regret, win-rates.", after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an experiment (environments × policies × seeds) and write its results.
    #[command(after_help = EXAMPLES)]
    Run {
        /// The experiment spec (TOML).
        #[arg(required_unless_present = "preset", conflicts_with = "preset")]
        spec: Option<PathBuf>,
        /// Run a built-in experiment instead of a file (see `armada list`).
        #[arg(long)]
        preset: Option<String>,
        /// Output directory [default: runs/<experiment name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads [default: all cores]. Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// No progress bar and no table; print only the output directory.
        #[arg(long)]
        quiet: bool,
        /// Overwrite the output files if the directory already holds results.
        #[arg(long)]
        force: bool,
        /// Do not write report.html and figures/ at the end.
        #[arg(long)]
        no_report: bool,
    },
    /// Write DIR/report.html (self-contained) and DIR/figures/*.svg for a finished run, or
    /// compare several runs (`armada report A B --out CMP`).
    Report {
        /// Output directories written by `armada run`.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where a comparison of several runs goes (required with more than one directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List environments, policies (with parameters and defaults) and experiment presets.
    List,
    /// Algorithm distillation data: a classic policy plays every LLM agent's runs in SPEC, and
    /// each decision is written with the exact prompt the agent would have been sent —
    /// OUT/sft.jsonl (chat-format fine-tuning examples) and OUT/preferences.jsonl (DPO pairs:
    /// the teacher's answer over another arm's).
    Distill {
        /// A spec with at least one `[[policy]] name = "llm"` (its settings shape the prompts).
        spec: PathBuf,
        /// The teacher: a built-in policy name, run with its default parameters.
        #[arg(long, default_value = "ucb")]
        teacher: String,
        /// Keep every N-th decision (from step 0).
        #[arg(long, default_value_t = 1)]
        every: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            emit(&output::listing());
            ExitCode::SUCCESS
        }
        Command::Distill { spec, teacher, every, out } => match distill(&spec, &teacher, every, &out) {
            Ok(summary) => {
                emit(&summary);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Report { dirs, out } => match make_report(&dirs, out.as_deref()) {
            Ok(page) => {
                emit(&format!("{}\n", page.display()));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Run { spec, preset, out, threads, quiet, force, no_report } => {
            let exp = match load(spec.as_ref(), preset.as_deref()) {
                Ok(exp) => exp,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            if threads == Some(0) {
                eprintln!("error: --threads: must be at least 1");
                return ExitCode::from(2);
            }
            let dir = out.unwrap_or_else(|| PathBuf::from("runs").join(&exp.name));
            match output::prepare_dir(&dir, force) {
                Ok(()) => {}
                Err(output::DirError::Occupied(msg)) => {
                    eprintln!("error: {msg}");
                    return ExitCode::from(2);
                }
                Err(output::DirError::Io(e)) => {
                    eprintln!("error: {e:#}");
                    return ExitCode::FAILURE;
                }
            }
            match run(&exp, &dir, threads, quiet, !no_report) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `armada report`: one directory's report in place, or a comparison of several into `out`.
/// Returns the page written.
fn make_report(dirs: &[PathBuf], out: Option<&std::path::Path>) -> anyhow::Result<PathBuf> {
    if let [dir] = dirs
        && out.is_none_or(|o| o == dir.as_path())
    {
        report::write(dir, &report::load(dir)?)?;
        return Ok(dir.join("report.html"));
    }
    let Some(out) = out else {
        anyhow::bail!("comparing {} runs needs --out DIR (where the comparison report goes)", dirs.len());
    };
    if dirs.iter().any(|d| d == out) || out.join("summary.json").exists() {
        anyhow::bail!("--out {}: choose a directory that is not one of the runs", out.display());
    }
    let mut runs = Vec::with_capacity(dirs.len());
    for d in dirs {
        let data = report::load(d)?;
        runs.push((data.summary.name.clone(), data));
    }
    // Runs with the same experiment name are told apart by their directory.
    let names: Vec<String> = runs.iter().map(|(n, _)| n.clone()).collect();
    for (i, (name, _)) in runs.iter_mut().enumerate() {
        if names.iter().filter(|n| *n == name).count() > 1 {
            *name = dirs[i].display().to_string();
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    report::write_comparison(out, &runs)?;
    Ok(out.join("report.html"))
}

/// `armada distill`: writes OUT/sft.jsonl and OUT/preferences.jsonl; returns what to print.
fn distill(spec_path: &PathBuf, teacher: &str, every: u64, out: &std::path::Path) -> anyhow::Result<String> {
    let exp = load(Some(spec_path), None)?;
    let def = armada::policy::find_policy(teacher)
        .ok_or_else(|| anyhow::anyhow!("--teacher: unknown policy \"{teacher}\" (see `armada list`)"))?;
    if every == 0 {
        anyhow::bail!("--every: must be at least 1");
    }
    let decided = armada_llm::demos::export(&exp, &armada::policy::PolicySpec::with_defaults(def), every)
        .map_err(|m| anyhow::anyhow!(m))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let sft = out.join("sft.jsonl");
    std::fs::write(&sft, armada_llm::demos::sft_jsonl(&decided))
        .with_context(|| format!("writing {}", sft.display()))?;
    let pairs = out.join("preferences.jsonl");
    std::fs::write(&pairs, armada_llm::demos::preference_jsonl(&decided, exp.seed))
        .with_context(|| format!("writing {}", pairs.display()))?;
    Ok(format!("{} decisions by {teacher}: {} and {}\n", decided.len(), sft.display(), pairs.display()))
}

fn load(spec_path: Option<&PathBuf>, preset: Option<&str>) -> Result<Experiment, SpecError> {
    match (spec_path, preset) {
        (_, Some(name)) => spec::preset_experiment(name),
        (Some(path), None) => {
            let source = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| SpecError {
                source: source.clone(),
                field: String::new(),
                message: format!("cannot read the spec: {e}"),
            })?;
            spec::parse_spec_with(&text, &source, Some(&armada_llm::config::LlmAgents))
        }
        (None, None) => unreachable!("clap requires a spec or --preset"),
    }
}

fn run(
    exp: &Experiment,
    dir: &std::path::Path,
    threads: Option<usize>,
    quiet: bool,
    with_report: bool,
) -> anyhow::Result<()> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        builder = builder.num_threads(n);
    }
    let pool = builder.build().context("starting the worker threads")?;
    let total = exp.total_steps();
    let bar = if quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta}")
                .expect("valid template"),
        );
        b
    };
    let started = Instant::now();
    let records = pool.install(|| run_experiment(exp, &|steps| bar.inc(steps)));
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let failures: Vec<String> = records
        .iter()
        .filter_map(|r| {
            let why = r.failure.as_ref()?;
            let (e, p) = (&exp.envs[r.id.env].label, &exp.policies[r.id.policy].label);
            Some(format!("  {e} / {p} / seed index {}: {why}", r.id.seed_index))
        })
        .collect();
    if !failures.is_empty() {
        anyhow::bail!(
            "{} of {} runs failed, so no results were written (model answers already received are in the \
             response cache: running again resumes without paying for them):\n{}",
            failures.len(),
            records.len(),
            failures.join("\n")
        );
    }
    let summary = armada::summary::summarize(exp, &records);
    output::write_all(dir, exp, &records, &summary, elapsed, pool.current_num_threads())?;
    if with_report {
        let data = report::ReportData {
            spec: armada::spec::to_toml(exp),
            curves: summary.curves.clone(),
            summary: summary.clone(),
        };
        report::write(dir, &data)?;
    }
    if quiet {
        emit(&format!("{}\n", dir.display()));
    } else {
        emit(&output::table(&summary));
        for c in armada::summary::agent_calls(exp, &records) {
            emit(&format!(
                "  {} / {}: {} calls ({} from the cache, {} retries), {}{}\n",
                c.env,
                c.policy,
                c.calls,
                c.cache_hits,
                c.retries,
                c.latency_per_call_s.map_or("no model calls".to_string(), |l| format!("{l:.3} s per model call")),
                if c.cost > 0.0 { format!(", cost {:.4}", c.cost) } else { String::new() }
            ));
        }
        emit(&format!(
            "\n{} runs, {} steps in {:.2} s ({:.1} M steps/s, {} threads). Results in {}/\n",
            exp.run_count(),
            total,
            elapsed,
            total as f64 / elapsed.max(1e-9) / 1e6,
            pool.current_num_threads(),
            dir.display()
        ));
    }
    Ok(())
}

/// Writes to stdout. A closed pipe (`armada run … | head`) is not an error worth a panic: the
/// results are already on disk, so the text is simply dropped.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
