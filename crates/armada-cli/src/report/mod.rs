//! `armada report`: a self-contained HTML report (inline SVG, inline CSS and a few lines of
//! inline script for sorting; nothing fetched) and the same figures as files under `figures/`,
//! built from an output directory's `summary.json`, `curves.csv` and `spec.toml`.

mod svg;

use anyhow::{Context, bail};
use armada::summary::{Curve, ResultRow, Summary, parse_curves_csv};
use std::fmt::Write as _;
use std::path::Path;
use svg::{LinePlot, Series, escape};

/// Everything a report is drawn from.
pub struct ReportData {
    pub summary: Summary,
    pub curves: Vec<Curve>,
    pub spec: String,
}

/// Reads a result directory written by `armada run`.
pub fn load(dir: &Path) -> anyhow::Result<ReportData> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p)
            .with_context(|| format!("reading {} (is {} an armada output directory?)", p.display(), dir.display()))
    };
    let summary: Summary = serde_json::from_str(&read("summary.json")?)
        .with_context(|| format!("{}: not a summary written by armada", dir.join("summary.json").display()))?;
    let curves = parse_curves_csv(&read("curves.csv")?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join("curves.csv").display()))?;
    let spec = read("spec.toml")?;
    Ok(ReportData { summary, curves, spec })
}

/// A named figure: file stem and SVG text.
pub struct Figure {
    /// The environment it belongs to; None for the figures over all environments.
    pub env: Option<String>,
    pub name: String,
    pub caption: String,
    pub svg: String,
}

/// A file-name-safe version of a label.
fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect()
}

/// File-name stems for environment labels, in order; made unique with the position when two
/// labels map to the same stem.
fn unique_stems<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<String> {
    let stems: Vec<String> = labels.map(slug).collect();
    stems
        .iter()
        .enumerate()
        .map(|(i, s)| if stems.iter().filter(|t| *t == s).count() > 1 { format!("{s}-{}", i + 1) } else { s.clone() })
        .collect()
}

/// [`unique_stems`] of one run's environments.
fn env_stems(data: &ReportData) -> Vec<String> {
    unique_stems(data.summary.environments.iter().map(|e| e.env.as_str()))
}

fn env_curves<'a>(data: &'a ReportData, env: &str) -> Vec<&'a Curve> {
    data.curves.iter().filter(|c| c.env == env).collect()
}

fn rows_of<'a>(data: &'a ReportData, env: &str) -> Vec<&'a ResultRow> {
    data.summary.results.iter().filter(|r| r.env == env).collect()
}

/// The figures of one environment: regret (linear and log x), OptFrac, MinFrac, the
/// regret-shape fit and the pull shares by arm rank.
fn env_figures(data: &ReportData, env: &str, e: &str) -> Vec<Figure> {
    let curves = env_curves(data, env);
    let rows = rows_of(data, env);
    let regret = |log_x: bool| LinePlot {
        title: format!("Cumulative regret — {env}"),
        x_label: if log_x { "step t (log scale)".into() } else { "step t".into() },
        y_label: "pseudo-regret (mean, 95% CI)".into(),
        log_x,
        series: curves
            .iter()
            .enumerate()
            .map(|(i, c)| Series {
                name: c.policy.clone(),
                points: c.t.iter().zip(&c.mean_regret).map(|(&t, &m)| (t as f64, m)).collect(),
                band: Some(
                    c.t.iter()
                        .zip(&c.mean_regret)
                        .zip(&c.ci95_regret)
                        .map(|((&t, &m), ci)| {
                            let h = ci.unwrap_or(0.0);
                            (t as f64, m - h, m + h)
                        })
                        .collect(),
                ),
                slot: i,
                dash: svg::default_dash(i),
            })
            .collect(),
    };
    let fraction = |title: &str, pick: fn(&Curve) -> &Vec<f64>| LinePlot {
        title: format!("{title} — {env}"),
        x_label: "step t (log scale)".into(),
        y_label: format!("{title} (mean over seeds)"),
        log_x: true,
        series: curves
            .iter()
            .enumerate()
            .map(|(i, c)| Series {
                name: c.policy.clone(),
                points: c.t.iter().zip(pick(c)).map(|(&t, &v)| (t as f64, v)).collect(),
                band: None,
                slot: i,
                dash: svg::default_dash(i),
            })
            .collect(),
    };
    let gap = data
        .summary
        .environments
        .iter()
        .find(|x| x.env == env)
        .and_then(|x| x.mean_min_gap)
        .filter(|g| *g > 0.0)
        .unwrap_or(1.0);
    // One legend entry per policy (named with its fitted α and β); the fitted curve is drawn
    // dotted in the same colour without an entry of its own.
    let mut fit_series = Vec::new();
    for (i, c) in curves.iter().enumerate() {
        let row = rows.iter().find(|r| r.policy == c.policy);
        let fitted = row.and_then(|r| Some((r.fit_alpha.unwrap_or(0.0), r.fit_beta?, r.fit_lambda1?, r.fit_lambda2?)));
        let name = match row {
            Some(r) if fitted.is_some() => format!(
                "{} (α={}, β={:.1e})",
                c.policy,
                r.fit_alpha.map_or("–".into(), |a| format!("{a:.2}")),
                r.fit_beta.unwrap_or(0.0)
            ),
            _ => c.policy.clone(),
        };
        fit_series.push(Series {
            name,
            points: c.t.iter().zip(&c.mean_regret).map(|(&t, &m)| (t as f64, m)).collect(),
            band: None,
            slot: i,
            dash: svg::default_dash(i),
        });
        if let Some((alpha, beta, l1, l2)) = fitted {
            let f = |t: f64| l1 * t.max(1.0).ln().powf(alpha) / gap + beta * t + l2;
            fit_series.push(Series {
                name: String::new(),
                points: c.t.iter().map(|&t| (t as f64, f(t as f64))).collect(),
                band: None,
                slot: i,
                dash: svg::DOTTED,
            });
        }
    }
    let fit = LinePlot {
        title: format!("Regret shape fit — {env}"),
        x_label: "step t".into(),
        y_label: "mean pseudo-regret".into(),
        log_x: false,
        series: fit_series,
    };
    let pulls = LinePlot {
        title: format!("Pulls by arm rank — {env}"),
        x_label: "arm rank by true mean (1 = best)".into(),
        y_label: "share of pulls".into(),
        log_x: false,
        series: rows
            .iter()
            .enumerate()
            .map(|(i, r)| Series {
                name: r.policy.clone(),
                points: r.pull_share_by_rank.iter().enumerate().map(|(k, &v)| ((k + 1) as f64, v)).collect(),
                band: None,
                slot: i,
                dash: svg::default_dash(i),
            })
            .collect(),
    };
    vec![
        Figure {
            env: Some(env.to_string()),
            name: format!("regret-{e}"),
            caption: "Cumulative pseudo-regret, mean with 95% CI band".into(),
            svg: regret(false).to_svg(),
        },
        Figure {
            env: Some(env.to_string()),
            name: format!("regret-log-{e}"),
            caption: "The same on a logarithmic time axis".into(),
            svg: regret(true).to_svg(),
        },
        Figure {
            env: Some(env.to_string()),
            name: format!("optfrac-{e}"),
            caption: "OptFrac: share of pulls of an optimal arm".into(),
            svg: fraction("OptFrac", |c| &c.opt_frac).to_svg(),
        },
        Figure {
            env: Some(env.to_string()),
            name: format!("minfrac-{e}"),
            caption: "MinFrac: K × (pulls of the least-pulled arm) / t".into(),
            svg: fraction("MinFrac", |c| &c.min_frac).to_svg(),
        },
        Figure {
            env: Some(env.to_string()),
            name: format!("fit-{e}"),
            caption: "Mean regret (solid) and the fitted λ1·ln(t)^α/Δmin + β·t + λ2 (dotted)".into(),
            svg: fit.to_svg(),
        },
        Figure {
            env: Some(env.to_string()),
            name: format!("pulls-{e}"),
            caption: "Action histogram: share of pulls by the arm's rank".into(),
            svg: pulls.to_svg(),
        },
    ]
}

/// The overall win-rate figures: the policy × policy matrix (share of environments where the
/// row significantly beats the column) and the bar chart of each policy's win-rate.
fn win_figures(data: &ReportData) -> Vec<Figure> {
    let policies: Vec<String> = data.summary.win_rates.iter().map(|w| w.policy.clone()).collect();
    let envs: Vec<&str> = data.summary.environments.iter().map(|e| e.env.as_str()).collect();
    let matrix: Vec<Vec<Option<f64>>> = policies
        .iter()
        .map(|p| {
            policies
                .iter()
                .map(|q| {
                    (p != q).then(|| {
                        let wins =
                            data.summary.results.iter().filter(|r| &r.policy == p && r.beats.contains(q)).count();
                        wins as f64 / envs.len().max(1) as f64
                    })
                })
                .collect()
        })
        .collect();
    let mut order: Vec<(String, f64)> =
        data.summary.win_rates.iter().map(|w| (w.policy.clone(), w.win_rate.unwrap_or(0.0))).collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    vec![
        Figure {
            env: None,
            name: "winrate-matrix".into(),
            caption: "Row beats column (one-sided Welch t-test, p < 0.05): % of environments".into(),
            svg: svg::heatmap("Pairwise wins (% of environments)", &policies, &matrix),
        },
        Figure {
            env: None,
            name: "winrate".into(),
            caption: "Win-rate: significant wins / comparisons over all environments".into(),
            svg: svg::bars("Overall win-rate", "win-rate", &order),
        },
    ]
}

/// Every figure of the report, in display order: win-rates first, then per environment.
pub fn figures(data: &ReportData) -> Vec<Figure> {
    let mut figs = win_figures(data);
    for (e, stem) in data.summary.environments.iter().zip(env_stems(data)) {
        figs.extend(env_figures(data, &e.env, &stem));
    }
    figs
}

fn opt_num(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// The report page.
pub fn html(data: &ReportData, figs: &[Figure]) -> String {
    let s = &data.summary;
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Armada report — {name}</title><style>{CSS}</style></head><body><h1>Armada report — {name}</h1><p class="meta">{seeds} seeds per environment × policy, master seed {seed}. Regret is exact pseudo-regret Σ(μ* − μ<sub>a<sub>t</sub></sub>); ± is the 95% Student-t interval over seeds.</p>"#,
        name = escape(&s.name),
        seeds = s.seeds,
        seed = s.seed,
    );
    h.push_str(r#"<h2 id="summary">Summary</h2><p class="hint">Click a column header to sort.</p><table class="sortable" id="summary-table"><thead><tr>"#);
    for col in [
        "env",
        "policy",
        "horizon",
        "regret",
        "± 95% CI",
        "reward",
        "OptFrac",
        "MinFrac",
        "win-rate",
        "fit α",
        "fit β",
        "fit R²",
        "shape",
    ] {
        let _ = write!(h, "<th>{col}</th>");
    }
    h.push_str("</tr></thead><tbody>");
    for r in &s.results {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.env),
            escape(&r.policy),
            r.horizon,
            format_args!("{:.2}", r.mean_regret),
            opt_num(r.ci95_regret, 2),
            r.mean_reward,
            r.opt_frac,
            r.min_frac,
            r.win_rate.map_or("–".into(), |w| format!("{:.0}%", 100.0 * w)),
            opt_num(r.fit_alpha, 2),
            r.fit_beta.map_or("–".into(), |b| format!("{b:.2e}")),
            opt_num(r.fit_r2, 3),
            match r.sublinear {
                Some(true) => "sub-linear",
                Some(false) => "linear",
                None => "–",
            }
        );
    }
    h.push_str("</tbody></table>");
    let agents: Vec<&ResultRow> = s.results.iter().filter(|r| r.agent.is_some()).collect();
    if !agents.is_empty() {
        h.push_str(r#"<h2 id="agents">Agents</h2><p class="hint">Summed over seeds. An invalid decision is one whose first answer named no arm; re-asks, random fallbacks and forfeits follow the agent's settings.</p><table class="sortable" id="agents-table"><thead><tr><th>env</th><th>policy</th><th>invalid</th><th>decisions</th><th>re-asks</th><th>fallbacks</th><th>forfeits</th><th>calls</th><th>prompt tokens</th><th>completion tokens</th><th>mean prompt chars</th><th>max prompt chars</th></tr></thead><tbody>"#);
        for r in agents {
            let a = r.agent.as_ref().expect("filtered");
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{}</td></tr>",
                escape(&r.env),
                escape(&r.policy),
                100.0 * a.invalid_rate,
                a.decisions,
                a.reasks,
                a.fallbacks,
                a.forfeits,
                a.calls,
                a.prompt_tokens,
                a.completion_tokens,
                a.mean_prompt_chars,
                a.max_prompt_chars
            );
        }
        h.push_str("</tbody></table>");
    }
    let measured: Vec<&ResultRow> = s.results.iter().filter(|r| !r.measures.is_empty()).collect();
    if !measured.is_empty() {
        h.push_str(r#"<h2 id="measures">Family measures</h2><p class="hint">Numbers a structured family reports per run (docs/&lt;kind&gt;.md says what each means): mean ± 95% CI over seeds, [min, max].</p><table class="sortable" id="measures-table"><thead><tr><th>env</th><th>policy</th><th>measure</th><th>mean</th><th>± 95% CI</th><th>min</th><th>max</th></tr></thead><tbody>"#);
        for r in measured {
            for m in &r.measures {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                    escape(&r.env),
                    escape(&r.policy),
                    escape(&m.name),
                    m.mean,
                    m.ci95.map_or("–".to_string(), |c| format!("{c:.4}")),
                    m.min,
                    m.max
                );
            }
        }
        h.push_str("</tbody></table>");
    }
    h.push_str(r#"<h2 id="win-rates">Win-rates</h2><div class="figs">"#);
    for f in figs.iter().filter(|f| f.env.is_none()) {
        figure_html(&mut h, f);
    }
    h.push_str("</div>");
    for (e, stem) in s.environments.iter().zip(env_stems(data)) {
        let _ = write!(
            h,
            r#"<h2 id="env-{}">{}</h2><p class="meta">{} arms, horizon {}, {} rewards; {}{}</p><p class="meta">Regret: {}</p><div class="figs">"#,
            stem,
            escape(&e.env),
            e.arms,
            e.horizon,
            escape(&e.reward),
            match (&e.means, e.same_instance) {
                (Some(m), _) => format!("means {}", escape(&format!("{m:?}"))),
                (None, true) => "the same instance for every seed".into(),
                (None, false) => "a fresh instance per seed".into(),
            },
            e.mean_min_gap.map_or(String::new(), |g| format!("; mean smallest gap Δmin = {g:.4}")),
            escape(if e.regret.is_empty() { armada::env::CLASSIC_REGRET } else { &e.regret }),
        );
        for f in figs.iter().filter(|f| f.env.as_deref() == Some(e.env.as_str())) {
            figure_html(&mut h, f);
        }
        h.push_str("</div>");
    }
    h.push_str(r#"<h2 id="environments">Environments</h2><table><thead><tr><th>env</th><th>identity</th><th>arms</th><th>horizon</th><th>means</th><th>gaps Δ = μ* − μ</th></tr></thead><tbody>"#);
    for e in &s.environments {
        let _ = write!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.env),
            escape(&e.identity),
            e.arms,
            e.horizon,
            match &e.means {
                Some(m) => escape(&format!("{m:?}")),
                None if e.contextual => "depend on the context".into(),
                None if e.nonstationary => "change over time (see the identity)".into(),
                None if e.same_instance => "structured: see the identity and the regret notion".into(),
                None => "per seed".into(),
            },
            e.means.as_ref().map_or_else(
                || e.mean_min_gap.map_or("–".into(), |g| format!("mean Δmin {g:.4}")),
                |m| {
                    let best = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let gaps: Vec<String> = m.iter().map(|x| format!("{:.4}", best - x)).collect();
                    gaps.join(", ")
                }
            )
        );
    }
    h.push_str("</tbody></table>");
    let _ = write!(
        h,
        r#"<h2 id="spec">Spec</h2><p class="hint">Save as a file and run <code>armada run FILE</code> to repeat this experiment exactly.</p><pre>{}</pre><script>{SORT_JS}</script></body></html>"#,
        escape(&data.spec)
    );
    h.push('\n');
    h
}

fn figure_html(h: &mut String, f: &Figure) {
    let _ =
        write!(h, r#"<figure id="fig-{}">{}<figcaption>{}</figcaption></figure>"#, f.name, f.svg, escape(&f.caption));
}

const CSS: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1440px;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td:first-child,td:nth-child(2){text-align:left}th{background:#f0f0f0;cursor:pointer}\
.figs{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}figcaption{font-size:12px;color:#555;max-width:680px}\
.meta,.hint{color:#555;font-size:13px}pre{background:#f7f7f7;padding:1em;overflow:auto}";

const SORT_JS: &str = "document.querySelectorAll('table.sortable').forEach(function(t){\
t.querySelectorAll('th').forEach(function(th,i){var asc=true;th.addEventListener('click',function(){\
var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);\
rows.sort(function(x,y){var a=x.cells[i].textContent,c=y.cells[i].textContent,p=parseFloat(a),q=parseFloat(c);\
var r=(!isNaN(p)&&!isNaN(q))?p-q:a.localeCompare(c);return asc?r:-r;});\
asc=!asc;rows.forEach(function(r){b.appendChild(r);});});});});";

/// The fonts PNG figures are drawn with: DejaVu Sans, embedded in the binary (the `dejavu`
/// crate), standing in for every generic family, so a PNG looks the same on a machine with no
/// fonts installed. Built once.
fn font_db() -> std::sync::Arc<resvg::usvg::fontdb::Database> {
    static DB: std::sync::OnceLock<std::sync::Arc<resvg::usvg::fontdb::Database>> = std::sync::OnceLock::new();
    DB.get_or_init(|| {
        let mut db = resvg::usvg::fontdb::Database::new();
        db.load_font_data(dejavu::sans::regular().to_vec());
        db.load_font_data(dejavu::sans::bold().to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        db.set_serif_family("DejaVu Sans");
        db.set_monospace_family("DejaVu Sans");
        std::sync::Arc::new(db)
    })
    .clone()
}

/// Rasterises one of our SVG figures to PNG at twice its nominal size (print resolution at
/// paper column width).
pub fn svg_to_png(svg: &str) -> anyhow::Result<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    let options = usvg::Options { fontdb: font_db(), font_family: "DejaVu Sans".into(), ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(svg, &options).context("parsing a generated SVG figure")?;
    let size = tree.size().to_int_size();
    let scale = 2.0;
    let mut pixmap =
        tiny_skia::Pixmap::new((size.width() as f32 * scale) as u32, (size.height() as f32 * scale) as u32)
            .context("allocating the PNG canvas")?;
    resvg::render(&tree, tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    pixmap.encode_png().context("encoding a PNG figure")
}

/// Writes every figure as `figures/NAME.svg` and `figures/NAME.png`.
fn write_figures(dir: &Path, figs: &[Figure]) -> anyhow::Result<()> {
    let fig_dir = dir.join("figures");
    std::fs::create_dir_all(&fig_dir).with_context(|| format!("creating {}", fig_dir.display()))?;
    for f in figs {
        let p = fig_dir.join(format!("{}.svg", f.name));
        std::fs::write(&p, &f.svg).with_context(|| format!("writing {}", p.display()))?;
        let p = fig_dir.join(format!("{}.png", f.name));
        std::fs::write(&p, svg_to_png(&f.svg)?).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// Writes `report.html` and `figures/*.{svg,png}` into `dir`.
pub fn write(dir: &Path, data: &ReportData) -> anyhow::Result<()> {
    if data.summary.results.is_empty() {
        bail!("{}: the summary has no results to report", dir.display());
    }
    let figs = figures(data);
    write_figures(dir, &figs)?;
    let p = dir.join("report.html");
    std::fs::write(&p, html(data, &figs)).with_context(|| format!("writing {}", p.display()))
}

/// Writes a comparison of several runs into `out`: `report.html` (regret of each policy per
/// run, side by side, and the regret curves of the same configuration overlaid — colour =
/// policy, line style = run) and `figures/compare-*.svg`.
pub fn write_comparison(out: &Path, runs: &[(String, ReportData)]) -> anyhow::Result<()> {
    let mut envs: Vec<String> = Vec::new();
    let mut policies: Vec<String> = Vec::new();
    for (_, d) in runs {
        for r in &d.summary.results {
            if !envs.contains(&r.env) {
                envs.push(r.env.clone());
            }
            if !policies.contains(&r.policy) {
                policies.push(r.policy.clone());
            }
        }
    }
    let names: Vec<&str> = runs.iter().map(|(n, _)| n.as_str()).collect();
    let stems = unique_stems(envs.iter().map(String::as_str));
    let mut figs = Vec::new();
    for (env, stem) in envs.iter().zip(&stems) {
        for log_x in [false, true] {
            let mut series = Vec::new();
            for (k, (run, d)) in runs.iter().enumerate() {
                for c in d.curves.iter().filter(|c| &c.env == env) {
                    let slot = policies.iter().position(|p| p == &c.policy).unwrap_or(0);
                    series.push(Series {
                        name: format!("{run}: {}", c.policy),
                        points: c.t.iter().zip(&c.mean_regret).map(|(&t, &m)| (t as f64, m)).collect(),
                        band: Some(
                            c.t.iter()
                                .zip(&c.mean_regret)
                                .zip(&c.ci95_regret)
                                .map(|((&t, &m), ci)| (t as f64, m - ci.unwrap_or(0.0), m + ci.unwrap_or(0.0)))
                                .collect(),
                        ),
                        slot,
                        dash: k,
                    });
                }
            }
            let plot = LinePlot {
                title: format!("Cumulative regret — {env}"),
                x_label: if log_x { "step t (log scale)".into() } else { "step t".into() },
                y_label: "pseudo-regret (mean, 95% CI)".into(),
                log_x,
                series,
            };
            figs.push(Figure {
                env: Some(env.clone()),
                name: format!("compare-{}{stem}", if log_x { "regret-log-" } else { "regret-" }),
                caption: if log_x {
                    "The same on a logarithmic time axis".into()
                } else {
                    "Colour = policy, line style = run".into()
                },
                svg: plot.to_svg(),
            });
        }
    }
    let mut h = String::new();
    let title = names.join(" vs ");
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Armada comparison — {t}</title><style>{CSS}</style></head><body><h1>Armada comparison — {t}</h1><p class="meta">The same configurations (matched by environment and policy label) across {n} runs. Line styles by run: {styles}.</p>"#,
        t = escape(&title),
        n = runs.len(),
        styles = names
            .iter()
            .enumerate()
            .map(|(k, n)| format!("{} = {}", escape(n), ["solid", "dashed", "dotted", "dash-dot"][k % 4]))
            .collect::<Vec<_>>()
            .join(", "),
    );
    h.push_str(r#"<h2>Regret at the horizon</h2><p class="hint">Mean ± 95% CI; – where a run lacks the configuration. Click a header to sort.</p><table class="sortable" id="compare-table"><thead><tr><th>env</th><th>policy</th>"#);
    for n in &names {
        let _ = write!(h, "<th>{}</th>", escape(n));
    }
    h.push_str("</tr></thead><tbody>");
    for env in &envs {
        for p in &policies {
            let cells: Vec<Option<&ResultRow>> =
                runs.iter().map(|(_, d)| d.summary.results.iter().find(|r| &r.env == env && &r.policy == p)).collect();
            if cells.iter().all(Option::is_none) {
                continue;
            }
            let _ = write!(h, "<tr><td>{}</td><td>{}</td>", escape(env), escape(p));
            for c in cells {
                let text = c.map_or("–".into(), |r| format!("{:.2} ± {}", r.mean_regret, opt_num(r.ci95_regret, 2)));
                let _ = write!(h, "<td>{text}</td>");
            }
            h.push_str("</tr>");
        }
    }
    h.push_str("</tbody></table>");
    for (env, stem) in envs.iter().zip(&stems) {
        let _ = write!(h, r#"<h2 id="env-{stem}">{}</h2><div class="figs">"#, escape(env));
        for f in figs.iter().filter(|f| f.env.as_deref() == Some(env.as_str())) {
            figure_html(&mut h, f);
        }
        h.push_str("</div>");
    }
    let _ = writeln!(h, "<script>{SORT_JS}</script></body></html>");
    write_figures(out, &figs)?;
    let p = out.join("report.html");
    std::fs::write(&p, h).with_context(|| format!("writing {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dark pixels in an RGBA PNG produced by [`svg_to_png`].
    fn dark_pixels(png_bytes: &[u8]) -> usize {
        let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes)).read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        buf[..info.buffer_size()].chunks(4).filter(|p| p[3] > 0 && p[0] < 128).count()
    }

    #[test]
    fn png_text_renders_with_the_embedded_font() {
        // Text only: without a usable font resvg draws nothing, so dark pixels prove the
        // embedded DejaVu Sans was used (whatever fonts the machine has).
        let text = r#"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="5" y="30" font-family="sans-serif" font-size="24">Regret 10³</text></svg>"#;
        assert!(dark_pixels(&svg_to_png(text).unwrap()) > 200);
        let blank = r#"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"></svg>"#;
        assert_eq!(dark_pixels(&svg_to_png(blank).unwrap()), 0);
    }

    #[test]
    fn stems_are_file_safe_and_unique() {
        let labels = ["a b", "a_b", "ok-1.2"];
        assert_eq!(unique_stems(labels.iter().copied()), ["a_b-1", "a_b-2", "ok-1.2"]);
    }
}
