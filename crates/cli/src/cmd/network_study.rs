//! `atmpflow study FILE` when the study's `[study]` names a `network` file: every combination
//! of the axes' values (parameter paths into the network file, set with the study's own
//! `set_param`) is a network planned anew; writes study.json, points.csv and study.html.

use std::path::Path;

use anyhow::bail;
use model::{FieldPath, Problem, SourceFile};
use network::study::{self, NetworkStudy, PointOutcome, StudyPoint};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::common::{self, read_source, reported};

/// A network study file: `[study]` with `network`, and the axes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    study: study::StudySettings,
    #[serde(default)]
    axis: Vec<cost::study::Axis>,
}

pub fn run(path: &Path, src: &SourceFile, out: &Path, quiet: bool) -> anyhow::Result<()> {
    let spec: Spec = src.parse().map_err(reported)?;
    let Checked {
        values,
        net_src,
        base_net,
        base,
    } = check(path, src, &spec)?;
    let started = std::time::Instant::now();
    let points = study::combinations(&values)
        .into_iter()
        .enumerate()
        .map(|(index, vals)| plan_point(&spec, &base, index, vals))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let st = NetworkStudy {
        name: spec.study.name.clone(),
        description: spec.study.description.clone(),
        network_file: spec.study.network.clone(),
        currency: base_net.currency.clone(),
        axes: spec.axis.iter().map(|a| a.param.clone()).collect(),
        points,
    };
    let out = write_study(path, src, &net_src, &st, out)?;
    if !quiet {
        print_points(&st);
        println!(
            "{} points in {:.1} s; wrote {}",
            st.points.len(),
            started.elapsed().as_secs_f64(),
            out.join("study.html").display()
        );
    }
    if st.points.is_empty() {
        bail!("the study has no points");
    }
    Ok(())
}

/// A network study checked: every axis's values, and the network file it varies.
struct Checked {
    /// The values of each axis, in the order of the axes.
    values: Vec<Vec<f64>>,
    /// The network file as read.
    net_src: SourceFile,
    /// The network file as loaded.
    base_net: network::Network,
    /// The network file as a table, which every point changes.
    base: toml::Table,
}

/// Checks the axes and the network file (as it is, then with every axis's path tried on
/// it); fails with every problem found, located in the study file.
fn check(path: &Path, src: &SourceFile, spec: &Spec) -> anyhow::Result<Checked> {
    let mut problems = Vec::new();
    let root = FieldPath::root();
    if spec.axis.is_empty() {
        problems.push(Problem::new(
            root.clone(),
            "a network study needs at least one [[axis]] with a param and values",
        ));
    }
    let values: Vec<Vec<f64>> = spec
        .axis
        .iter()
        .map(cost::study::Axis::all_values)
        .collect();
    for (i, v) in values.iter().enumerate() {
        if v.is_empty() {
            problems.push(Problem::new(
                root.key("axis").idx(i),
                "the axis has no values (give values, or a range with from ≤ to and step > 0)",
            ));
        }
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            problems.push(Problem::new(
                root.key("axis").idx(i).key("values"),
                format!("every value must be a finite number (is {x})"),
            ));
        }
    }
    let total: usize = values.iter().map(Vec::len).product();
    if total > study::MAX_POINTS {
        problems.push(Problem::new(
            root.key("axis"),
            format!(
                "{total} points; a network study has at most {}",
                study::MAX_POINTS
            ),
        ));
    }
    // The network file: checked as it is, then every axis's path tried on it.
    let dir = path.parent().unwrap_or(Path::new("."));
    let net_path = dir.join(&spec.study.network);
    let net_src = read_source(&net_path)?;
    let base_net = network::load(&net_src).map_err(reported)?;
    let base: toml::Table = toml::from_str(net_src.text())
        .map_err(|e| anyhow::anyhow!("{}: {e}", net_path.display()))?;
    for (i, a) in spec.axis.iter().enumerate() {
        let mut t = base.clone();
        let first = values[i].first().copied().unwrap_or(0.0);
        if let Err(m) = cost::study::set_param(&mut t, &a.param, first) {
            problems.push(Problem::new(
                root.key("axis").idx(i).key("param"),
                format!("{m} in the network file {}", spec.study.network),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(reported(src.errors(&problems)));
    }
    Ok(Checked {
        values,
        net_src,
        base_net,
        base,
    })
}

/// Plans the network of point `index`: the network file with the axes set to `vals`.
fn plan_point(
    spec: &Spec,
    base: &toml::Table,
    index: usize,
    vals: Vec<f64>,
) -> anyhow::Result<StudyPoint> {
    let mut t = base.clone();
    let mut at = Vec::new();
    let mut outcome = None;
    for (a, &v) in spec.axis.iter().zip(&vals) {
        at.push(format!("{} = {v}", a.param));
        if let Err(m) = cost::study::set_param(&mut t, &a.param, v) {
            outcome = Some(PointOutcome::NoPlan { reasons: vec![m] });
        }
    }
    let outcome = match outcome {
        Some(o) => o,
        None => {
            let text = toml::to_string(&t)?;
            let name = format!(
                "{} at point {index} ({})",
                spec.study.network,
                at.join(", ")
            );
            match network::load(&SourceFile::new(name, text)) {
                Ok(net) => PointOutcome::from_solve(network::solve(
                    &net,
                    &network::SolveOptions::default(),
                )),
                Err(e) => PointOutcome::NoPlan {
                    reasons: e
                        .errors
                        .iter()
                        .map(|p| format!("field `{}`: {}", p.field, p.message))
                        .collect(),
                },
            }
        }
    };
    Ok(StudyPoint {
        index,
        values: vals,
        outcome,
    })
}

/// Writes study.json, points.csv and study.html into the output directory; answers it.
fn write_study(
    path: &Path,
    src: &SourceFile,
    net_src: &SourceFile,
    st: &NetworkStudy,
    out: &Path,
) -> anyhow::Result<std::path::PathBuf> {
    let out = crate::output::dir(out)?;
    crate::output::check_writable(&out)?;
    let json = serde_json::json!({
        "program_version": env!("CARGO_PKG_VERSION"),
        "kind": "network",
        "study_file": path.display().to_string(),
        "study_sha256": common::hex(&Sha256::digest(src.text().as_bytes())),
        "network_sha256": common::hex(&Sha256::digest(net_src.text().as_bytes())),
        "solver": "HiGHS",
        "study": st,
    });
    crate::output::write(
        &out.join("study.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    crate::output::write(&out.join("points.csv"), report::network_study_csv(st))?;
    crate::output::write(&out.join("study.html"), report::network_study_html(st))?;
    Ok(out)
}

/// Prints every point: its cost per patient and serving sites, or why it has no plan.
fn print_points(st: &NetworkStudy) {
    println!("{} — {} network points", st.name, st.points.len());
    for p in &st.points {
        let axes: Vec<String> = p.values.iter().map(|v| format!("{v}")).collect();
        match &p.outcome {
            PointOutcome::Planned { plan } => println!(
                "  {:>4}  {:>24}  {:>12.0} {} per patient  {}",
                p.index,
                axes.join(" × "),
                plan.cost_per_patient,
                st.currency,
                plan.serving_sites.join(", ")
            ),
            PointOutcome::NoPlan { reasons } => println!(
                "  {:>4}  {:>24}  no plan: {}",
                p.index,
                axes.join(" × "),
                reasons.first().map_or("", String::as_str)
            ),
        }
    }
}
