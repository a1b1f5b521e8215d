//! `atmpflow pat`: process analytical technology for the expansion step — calibrate a soft
//! sensor (PLS) from spectra and reference values, and estimate concentrations from new
//! spectra with applicability-domain flags.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use pat::sensor::{FitOptions, SoftSensor};

/// Largest input file read (bytes).
const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// The `pat` subcommands.
pub type Args = super::common::Subcommands<Command>;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Calibrate a PLS soft sensor from spectra and reference values (CSV: header row, sample id, numbers).
    Fit(FitArgs),
    /// Estimate reference values from spectra with a saved soft sensor; flags samples outside its domain.
    Predict(PredictArgs),
    /// Simulate a cohort of expansion cultures (fixed perfusion schedule) with synthetic Raman spectra.
    Simulate(SimulateArgs),
    /// Closed-loop feeding: model-predictive control against the fixed schedule on a simulated cohort.
    Control(ControlArgs),
}

#[derive(Debug, clap::Args)]
pub struct ControlArgs {
    /// Number of patients compared.
    #[arg(long, default_value_t = 20)]
    patients: usize,
    /// Seed of the ChaCha8 generator of the compared cohort (parameters: stream i; spectra: 2·2³² + i).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Patients of the soft sensor's calibration cohort.
    #[arg(long, default_value_t = 8)]
    calibration_patients: usize,
    /// Seed of the calibration cohort.
    #[arg(long, default_value_t = 2)]
    calibration_seed: u64,
    /// Control interval (days).
    #[arg(long, default_value_t = 0.25)]
    step: f64,
    /// Prediction horizon (control intervals).
    #[arg(long, default_value_t = 8)]
    horizon: usize,
    /// Glucose target (mM); default 2 g/L.
    #[arg(long)]
    glucose_min: Option<f64>,
    /// Lactate limit (mM).
    #[arg(long, default_value_t = 20.0)]
    lactate_max: f64,
    /// Largest perfusion rate (reactor volumes per day).
    #[arg(long, default_value_t = 2.0)]
    perfusion_max: f64,
    /// Harvest dose (10⁶ viable cells in the reactor).
    #[arg(long, default_value_t = 5000.0)]
    dose: f64,
    /// Harvest safety margin in standard errors of the soft sensor's cross-validated cell
    /// estimate: harvest when the estimated viable cells reach dose + Z·RMSECV·volume
    /// (1.645: a culture exactly at the dose passes with at most 5 % probability per measurement).
    #[arg(long, value_name = "Z", default_value_t = pat::control::DOSE_MARGIN_Z, conflicts_with = "dose_margin")]
    dose_margin_sd: f64,
    /// Harvest safety margin as a fixed number of cells (10⁶ viable cells) instead.
    #[arg(long, value_name = "CELLS")]
    dose_margin: Option<f64>,
    /// Last day of a culture, and the harvest day of the fixed-duration strategy.
    #[arg(long, default_value_t = 12.0)]
    days: f64,
    /// The patient whose trajectories `control.html` plots.
    #[arg(long, default_value_t = 0)]
    show_patient: usize,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    /// Output directory: summary.csv, outcomes.csv, trajectories.csv, control.html and
    /// sensor.json (the soft sensor the controller used, as `pat fit` writes one).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Number of patients (cultures).
    #[arg(long, default_value_t = 10)]
    patients: usize,
    /// Seed of the ChaCha8 generator (patient i uses streams i and 2³² + i).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Days per culture.
    #[arg(long, default_value_t = 12.0)]
    days: f64,
    /// Sampling interval in days.
    #[arg(long, default_value_t = 0.5)]
    every: f64,
    /// Output directory: spectra.csv, reference.csv, trajectories.csv, patients.csv.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// Spectra: one row per sample, first column the sample id, then one column per variable.
    #[arg(long)]
    spectra: PathBuf,
    /// Reference values: one row per sample (same ids), one column per response (PLS2 if several).
    #[arg(long)]
    reference: PathBuf,
    /// Number of PLS components.
    #[arg(long)]
    components: usize,
    /// Preprocessing steps in order, e.g. `snv,savgol:11:2:1` (savgol:WINDOW:POLYORDER:DERIV).
    #[arg(long, default_value = "")]
    preprocess: String,
    /// Scale every spectral variable and response to unit variance before the fit.
    #[arg(long)]
    scale: bool,
    /// K-fold cross-validation (contiguous folds): RMSECV for 1..=components.
    #[arg(long)]
    cv: Option<usize>,
    /// Confidence level of the Hotelling T² and Q residual limits.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Where to write the soft sensor (JSON).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// A soft sensor written by `atmpflow pat fit`.
    model: PathBuf,
    /// Spectra with the calibration's columns.
    #[arg(long)]
    spectra: PathBuf,
    /// Where to write the estimates (CSV: id, responses, hotelling_t2, q_residual, domain).
    #[arg(long)]
    out: PathBuf,
    /// Fail (and write nothing) if any sample lies outside the applicability domain.
    #[arg(long)]
    strict: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Fit(a) => fit(a),
        Command::Predict(a) => predict(a),
        Command::Simulate(a) => simulate(a),
        Command::Control(a) => control(a),
    }
}

/// Reads a UTF-8 text file, refusing files above the size limit before reading them.
fn read_text(path: &Path) -> anyhow::Result<String> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        bail!(
            "{}: larger than the limit of {MAX_FILE_BYTES} bytes",
            path.display()
        );
    }
    Ok(text)
}

fn table(path: &Path) -> anyhow::Result<pat::table::Table> {
    let name = path.display().to_string();
    Ok(pat::table::parse(&name, &read_text(path)?)?)
}

fn fit(a: FitArgs) -> anyhow::Result<()> {
    let spectra = table(&a.spectra)?;
    let reference = table(&a.reference)?;
    let opts = FitOptions {
        components: a.components,
        preprocess: pat::preprocess::parse_steps(&a.preprocess)?,
        scale: a.scale,
        cv_folds: a.cv,
        confidence: a.confidence,
    };
    let sensor = SoftSensor::fit(&spectra, &reference, &opts)?;
    crate::output::write(&a.out, &(serde_json::to_string_pretty(&sensor)? + "\n"))?;
    eprintln!(
        "calibrated {} response(s) on {} samples × {} variables, {} component(s), preprocessing: {}",
        sensor.responses.len(),
        sensor.samples,
        sensor.variables.len(),
        sensor.components,
        if opts.preprocess.is_empty() {
            "none".to_string()
        } else {
            opts.preprocess
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    );
    println!("response\tRMSEC");
    for (r, v) in sensor.responses.iter().zip(&sensor.rmsec) {
        println!("{r}\t{v:.6}");
    }
    if let Some(cv) = &sensor.cv {
        println!("\nRMSECV ({} contiguous folds)", cv.folds);
        println!("components\t{}", sensor.responses.join("\t"));
        for (k, row) in cv.rmsecv.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:.6}")).collect();
            let mark = if k + 1 == cv.best_components {
                "\t<- lowest"
            } else {
                ""
            };
            println!("{}\t{}{mark}", k + 1, cells.join("\t"));
        }
    }
    println!(
        "\nlimits at {:.1} % confidence: Hotelling T² {:.4}, Q residual {:.6e}",
        100.0 * sensor.confidence,
        sensor.t2_limit,
        sensor.q_limit
    );
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

fn predict(a: PredictArgs) -> anyhow::Result<()> {
    let name = a.model.display().to_string();
    let sensor = SoftSensor::from_json(&name, &read_text(&a.model)?)?;
    let spectra = table(&a.spectra)?;
    let preds = sensor.predict(&spectra)?;
    let outside: Vec<(&String, &pat::sensor::Prediction)> = spectra
        .ids
        .iter()
        .zip(&preds)
        .filter(|(_, p)| p.domain.is_outside())
        .collect();
    if !outside.is_empty() {
        eprintln!(
            "warning: {} of {} sample(s) outside the calibration's applicability domain (T² limit {:.4}, Q limit {:.6e}):",
            outside.len(),
            preds.len(),
            sensor.t2_limit,
            sensor.q_limit
        );
        for (id, p) in outside.iter().take(20) {
            eprintln!(
                "  {id}: {} (T² {:.4}, Q {:.6e})",
                p.domain.label(),
                p.t2,
                p.q
            );
        }
        if outside.len() > 20 {
            eprintln!(
                "  … and {} more (see the `domain` column)",
                outside.len() - 20
            );
        }
        if a.strict {
            bail!(
                "{} sample(s) outside the applicability domain; nothing written (--strict)",
                outside.len()
            );
        }
    }
    crate::output::write(&a.out, sensor.predictions_csv(&spectra, &preds))?;
    eprintln!("wrote {} estimate(s) to {}", preds.len(), a.out.display());
    Ok(())
}

fn simulate(a: SimulateArgs) -> anyhow::Result<()> {
    let opts = pat::cohort::CohortOptions {
        patients: a.patients,
        seed: a.seed,
        days: a.days,
        every: a.every,
        ..Default::default()
    };
    let cohort = pat::cohort::simulate(&opts, &pat::raman::Instrument::default())?;
    let dir = crate::output::dir(&a.out)?;
    let files = [
        ("spectra.csv", cohort.spectra.to_csv()),
        ("reference.csv", cohort.reference.to_csv()),
        ("trajectories.csv", cohort.trajectories_csv()),
        ("patients.csv", cohort.patients_csv()),
    ];
    let paths: Vec<PathBuf> = files.iter().map(|(n, _)| dir.join(n)).collect();
    crate::output::check_new(&paths)?;
    for (path, (_, text)) in paths.iter().zip(&files) {
        crate::output::write(path, text)?;
    }
    println!(
        "patient\tmu_max/d\tlag/d\tharvest day ({} × 10⁶ cells, fixed schedule)",
        opts.dose
    );
    for c in &cohort.cultures {
        let h = c
            .harvest_day
            .map(|d| format!("{d:.2}"))
            .unwrap_or_else(|| "not reached".into());
        println!(
            "{}\t{:.3}\t{:.3}\t{h}",
            c.patient, c.params.mu_max, c.params.lag_days
        );
    }
    eprintln!(
        "wrote {} samples × {} wavenumbers to {} (seed {}, ChaCha8)",
        cohort.spectra.ids.len(),
        cohort.spectra.columns.len(),
        dir.display(),
        a.seed
    );
    Ok(())
}

fn control(a: ControlArgs) -> anyhow::Result<()> {
    let defaults = pat::mpc::Settings::default();
    let settings = pat::mpc::Settings {
        step_days: a.step,
        horizon: a.horizon,
        glucose_min: a.glucose_min.unwrap_or(defaults.glucose_min),
        lactate_max: a.lactate_max,
        perfusion_max: a.perfusion_max,
        dose: a.dose,
        days_max: a.days,
        ..defaults
    };
    let opts = pat::control::CompareOptions {
        patients: a.patients,
        seed: a.seed,
        calibration_patients: a.calibration_patients,
        calibration_seed: a.calibration_seed,
        fixed_day: a.days,
        settings,
        margin: match a.dose_margin {
            Some(c) => pat::control::DoseMargin::Cells(c),
            None => pat::control::DoseMargin::Sd(a.dose_margin_sd),
        },
    };
    opts.margin.cells(0.0, 1.0)?;
    opts.settings.check()?;
    let dir = crate::output::dir(&a.out)?;
    if a.show_patient >= a.patients {
        bail!(
            "--show-patient {}: the cohort has patients 0 to {}",
            a.show_patient,
            a.patients.saturating_sub(1)
        );
    }
    let names = [
        "summary.csv",
        "outcomes.csv",
        "trajectories.csv",
        "control.html",
        "sensor.json",
    ];
    let paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    crate::output::check_new(&paths)?;
    crate::output::check_writable(&dir)?;
    // three strategies, each run on every drawn patient
    let bar =
        super::common::progress_bar((3 * a.patients) as u64, a.quiet, "control", "patient runs");
    let cmp = pat::control::compare(&opts, &mut |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let summaries = cmp.summaries();
    let mut summary = String::from(
        "strategy,patients,reached_dose,mean_harvest_day,mean_viable_cells_1e6,mean_medium_volumes,mean_glucose_low_days,mean_lactate_high_days,patients_with_violations,outside_domain_share\n",
    );
    for s in &summaries {
        summary.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            s.strategy,
            s.patients,
            s.reached_dose,
            s.harvest_day,
            s.viable_cells,
            s.medium,
            s.glucose_low_days,
            s.lactate_high_days,
            s.patients_with_violations,
            s.outside_share
        ));
    }
    let page = report::pat::control_html(&cmp, a.show_patient)
        .with_context(|| format!("patient {} not in the comparison", a.show_patient))?;
    let sensor = serde_json::to_string_pretty(&cmp.sensor)? + "\n";
    let texts = [
        summary,
        cmp.outcomes_csv(),
        cmp.trajectories_csv(),
        page,
        sensor,
    ];
    for (path, text) in paths.iter().zip(&texts) {
        crate::output::write(path, text)?;
    }
    let st = &cmp.options.settings;
    println!(
        "{} patients (seed {}, ChaCha8), soft sensor calibrated on {} others (seed {}); glucose ≥ {:.1} mM, lactate ≤ {:.1} mM, dose {} × 10⁶ cells + margin {:.0} × 10⁶ (sensor cell RMSECV {:.3} × 10⁶/mL), last day {}",
        opts.patients,
        opts.seed,
        opts.calibration_patients,
        opts.calibration_seed,
        st.glucose_min,
        st.lactate_max,
        st.dose,
        st.dose_margin,
        cmp.cells_rmsecv,
        st.days_max
    );
    println!(
        "strategy\treached dose\tharvest day\tviable cells (10⁹)\tmedium (volumes)\tglucose-low days\tlactate-high days\tpatients with violations"
    );
    for s in &summaries {
        println!(
            "{}\t{}/{}\t{:.2}\t{:.2}\t{:.2}\t{:.2}\t{:.2}\t{}",
            s.strategy,
            s.reached_dose,
            s.patients,
            s.harvest_day,
            s.viable_cells / 1000.0,
            s.medium,
            s.glucose_low_days,
            s.lactate_high_days,
            s.patients_with_violations
        );
    }
    eprintln!("wrote {}", dir.display());
    Ok(())
}
