//! The scheduling model: jobs (patient batches), stages with parallel machines,
//! processing times, set-up/cleaning times, minimum and maximum lags between
//! consecutive stages (transfer time, shelf life), machine unavailability and
//! frozen (already started) operations.
//!
//! All times are integers in one unit chosen by the caller (minutes in the
//! planner, the file's unit in benchmarks).

use serde::{Deserialize, Serialize};

use crate::error::ScheduleError;

/// A point in time or a duration, in the instance's time unit.
pub type Time = i64;

/// Largest time value accepted anywhere in an instance; keeps all sums far from overflow.
pub const TIME_LIMIT: Time = 1 << 40;

/// A patient batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Name shown in errors and reports.
    pub name: String,
    /// Earliest start of the first stage.
    pub release: Time,
    /// Due date (for tardiness).
    pub due: Time,
    /// Weight (for weighted tardiness and weighted completion).
    pub weight: i64,
    /// Product family; indexes set-up matrices.
    pub product: usize,
}

impl Job {
    /// A job released at 0, due at `Time::MAX / 4`, weight 1, product 0.
    pub fn plain(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            release: 0,
            due: TIME_LIMIT,
            weight: 1,
            product: 0,
        }
    }
}

/// A half-open time window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// First unavailable instant.
    pub start: Time,
    /// First instant available again.
    pub end: Time,
}

/// One machine of a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Name shown in errors and reports.
    pub name: String,
    /// Speed in percent of nominal: processing time on this machine is
    /// `ceil(p * 100 / speed_percent)`. 100 = identical machines.
    pub speed_percent: u32,
    /// Windows in which no operation may be processed (maintenance, shifts).
    /// Set-up/cleaning is a minimum separation between operations and may overlap them.
    pub unavailable: Vec<Window>,
    /// Physical identity: machines of different stages with the same value are one device
    /// (e.g. a processing station used by several steps); `None` = a device of its own.
    #[serde(default)]
    pub physical: Option<String>,
}

impl Machine {
    /// A nominal-speed machine that is always available.
    pub fn plain(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            speed_percent: 100,
            unavailable: Vec::new(),
            physical: None,
        }
    }
}

/// A processing stage with parallel machines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Name shown in errors and reports.
    pub name: String,
    /// The eligible parallel machines.
    pub machines: Vec<Machine>,
    /// Sequence-dependent set-up/cleaning time `setup[prev_product][next_product]`
    /// between two consecutive operations on the same machine of this stage.
    pub setup: Option<Vec<Vec<Time>>>,
}

impl Stage {
    /// A stage with `m` identical nominal machines and no set-ups.
    pub fn identical(name: impl Into<String>, m: usize) -> Self {
        let name = name.into();
        let machines = (0..m)
            .map(|i| Machine::plain(format!("{name}.{i}")))
            .collect();
        Self {
            name,
            machines,
            setup: None,
        }
    }
}

/// Time lag between the end of stage `k` and the start of stage `k + 1` of one job
/// (default: no minimum, no maximum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lag {
    /// Minimum lag (transfer time).
    pub min: Time,
    /// Maximum lag (shelf life of the intermediate); `None` = unlimited.
    pub max: Option<Time>,
}

/// An operation that has already started and may not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrozenOp {
    /// Job index.
    pub job: usize,
    /// Stage index.
    pub stage: usize,
    /// Machine index within the stage.
    pub machine: usize,
    /// Fixed start time.
    pub start: Time,
}

/// A flexible (hybrid) flow shop instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Instance name (file name in benchmarks).
    pub name: String,
    /// Jobs in input order; indices are job ids.
    pub jobs: Vec<Job>,
    /// Stages in processing order.
    pub stages: Vec<Stage>,
    /// Nominal processing time `processing[job][stage]`.
    pub processing: Vec<Vec<Time>>,
    /// `lags[job][k]` applies between stage `k` and `k + 1`; an empty outer vector means
    /// no lags at all, otherwise each job has `stages - 1` entries.
    pub lags: Vec<Vec<Lag>>,
    /// Operations already started (re-planning).
    pub frozen: Vec<FrozenOp>,
    /// No operation that is not frozen may start before this time (the re-planning instant).
    pub not_before: Time,
    /// Require the same job order on every stage (classic permutation flow shop;
    /// only meaningful with one machine per stage).
    pub permutation: bool,
}

impl Instance {
    /// A plain hybrid flow shop: `m[k]` identical machines at stage `k`, processing
    /// times `p[job][stage]`, everything else default.
    pub fn hybrid_flow_shop(name: impl Into<String>, m: &[usize], p: Vec<Vec<Time>>) -> Self {
        let jobs = (0..p.len()).map(|j| Job::plain(format!("J{j}"))).collect();
        let stages = m
            .iter()
            .enumerate()
            .map(|(k, &mk)| Stage::identical(format!("S{k}"), mk))
            .collect();
        Self {
            name: name.into(),
            jobs,
            stages,
            processing: p,
            lags: Vec::new(),
            frozen: Vec::new(),
            not_before: 0,
            permutation: false,
        }
    }

    /// Number of jobs.
    pub fn n(&self) -> usize {
        self.jobs.len()
    }

    /// Number of stages.
    pub fn g(&self) -> usize {
        self.stages.len()
    }

    /// The lag between stage `k` and `k + 1` of job `j` (default if none given).
    pub fn lag(&self, j: usize, k: usize) -> Lag {
        self.lags
            .get(j)
            .and_then(|l| l.get(k))
            .copied()
            .unwrap_or_default()
    }

    /// Processing time of job `j` at stage `k` on machine `m` of that stage.
    pub fn proc_time(&self, j: usize, k: usize, m: usize) -> Time {
        let p = self.processing[j][k];
        let speed = Time::from(self.stages[k].machines[m].speed_percent.max(1));
        (p * 100 + speed - 1) / speed
    }

    /// Set-up time on a machine of stage `k` between a job of product `a` and one of product `b`.
    pub fn setup(&self, k: usize, a: usize, b: usize) -> Time {
        match &self.stages[k].setup {
            Some(s) => s.get(a).and_then(|r| r.get(b)).copied().unwrap_or(0),
            None => 0,
        }
    }

    /// Whether any job has a finite maximum lag.
    pub fn has_max_lags(&self) -> bool {
        self.lags.iter().flatten().any(|l| l.max.is_some())
    }

    /// Checks shapes, ranges and trivially contradictory constraints.
    /// Errors name the job and stage concerned.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        if self.n() == 0 {
            return Err(ScheduleError::Invalid("instance has no jobs".into()));
        }
        if self.g() == 0 {
            return Err(ScheduleError::Invalid("instance has no stages".into()));
        }
        self.validate_stages()?;
        self.validate_jobs()?;
        if !self.lags.is_empty() {
            self.validate_lags()?;
        }
        self.validate_frozen()?;
        if !in_range(self.not_before) {
            return Err(ScheduleError::Invalid("not_before out of range".into()));
        }
        Ok(())
    }

    /// Each stage has machines (one in a permutation flow shop) with valid speeds and
    /// windows, and a set-up matrix large enough and non-negative.
    fn validate_stages(&self) -> Result<(), ScheduleError> {
        for (k, st) in self.stages.iter().enumerate() {
            if st.machines.is_empty() {
                return Err(ScheduleError::Invalid(format!(
                    "stage {} (#{k}) has no machines",
                    st.name
                )));
            }
            if self.permutation && st.machines.len() != 1 {
                return Err(ScheduleError::Invalid(format!(
                    "permutation flow shop needs one machine per stage, stage {} (#{k}) has {}",
                    st.name,
                    st.machines.len()
                )));
            }
            for (i, m) in st.machines.iter().enumerate() {
                if m.speed_percent == 0 || m.speed_percent > 100_000 {
                    return Err(ScheduleError::Invalid(format!(
                        "machine {} (#{i}) of stage {} (#{k}): speed_percent must be in 1..=100000",
                        m.name, st.name
                    )));
                }
                for w in &m.unavailable {
                    if w.end <= w.start || !in_range(w.start) || !in_range(w.end) {
                        return Err(ScheduleError::Invalid(format!(
                            "machine {} of stage {} (#{k}): unavailability window [{}, {}) is empty or out of range",
                            m.name, st.name, w.start, w.end
                        )));
                    }
                }
            }
            if let Some(s) = &st.setup {
                let np = self.jobs.iter().map(|j| j.product).max().unwrap_or(0) + 1;
                if s.len() < np || s.iter().any(|r| r.len() < np) {
                    return Err(ScheduleError::Invalid(format!(
                        "stage {} (#{k}): set-up matrix must be at least {np} x {np} (one row and column per product)",
                        st.name
                    )));
                }
                if s.iter().flatten().any(|&v| v < 0 || !in_range(v)) {
                    return Err(ScheduleError::Invalid(format!(
                        "stage {} (#{k}): set-up times must be non-negative",
                        st.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks a per-job table: one row per job, each `width` entries long, then runs
    /// `check_row` on each job's row in job order (so the first bad job is the one reported).
    /// `what` names the entries in errors; `expected` says in words how many a row needs.
    fn validate_job_rows<T>(
        &self,
        what: &str,
        rows: &[Vec<T>],
        width: usize,
        expected: &str,
        mut check_row: impl FnMut(usize, &[T]) -> Result<(), ScheduleError>,
    ) -> Result<(), ScheduleError> {
        let n = self.n();
        if rows.len() != n {
            return Err(ScheduleError::Invalid(format!(
                "{what} given for {} jobs, instance has {n}",
                rows.len()
            )));
        }
        for (j, row) in rows.iter().enumerate() {
            if row.len() != width {
                return Err(ScheduleError::Invalid(format!(
                    "job {} (#{j}): {} {what} given, {expected}",
                    self.jobs[j].name,
                    row.len()
                )));
            }
            check_row(j, row)?;
        }
        Ok(())
    }

    /// One row of processing times per job, one per stage, in range; release, due date and
    /// weight in range.
    fn validate_jobs(&self) -> Result<(), ScheduleError> {
        let g = self.g();
        let expected = format!("instance has {g} stages");
        self.validate_job_rows("processing times", &self.processing, g, &expected, |j, row| {
            let job = &self.jobs[j];
            for (k, &p) in row.iter().enumerate() {
                if !(0..=TIME_LIMIT / 1024).contains(&p) {
                    return Err(ScheduleError::Invalid(format!(
                        "job {} (#{j}), stage {} (#{k}): processing time {p} is negative or too large",
                        job.name, self.stages[k].name
                    )));
                }
            }
            if !in_range(job.release) || !in_range(job.due) || job.weight < 0 {
                return Err(ScheduleError::Invalid(format!(
                    "job {} (#{j}): release/due out of range or negative weight",
                    job.name
                )));
            }
            Ok(())
        })
    }

    /// Lags (when given): one row per job, one per pair of stages, in range, and no maximum
    /// below the minimum.
    fn validate_lags(&self) -> Result<(), ScheduleError> {
        let width = self.g() - 1;
        let expected = format!("expected {width} (one per pair of consecutive stages)");
        self.validate_job_rows("lags", &self.lags, width, &expected, |j, row| {
            for (k, l) in row.iter().enumerate() {
                if !in_range(l.min) || l.max.is_some_and(|x| !in_range(x)) {
                    return Err(ScheduleError::Invalid(format!(
                        "job {} (#{j}), stage {} (#{}): lag out of range",
                        self.jobs[j].name,
                        self.stages[k + 1].name,
                        k + 1
                    )));
                }
                if let Some(max) = l.max
                    && (max < l.min || max < 0)
                {
                    return Err(ScheduleError::MaxLagInfeasible {
                        job: j,
                        job_name: self.jobs[j].name.clone(),
                        stage: k + 1,
                        stage_name: self.stages[k + 1].name.clone(),
                        reason: format!(
                            "maximum wait {max} after stage {} is below the minimum transfer time {}",
                            self.stages[k].name,
                            l.min.max(0)
                        ),
                    });
                }
            }
            Ok(())
        })
    }

    /// Frozen operations in range, each at most once, and each with its previous stage
    /// frozen too (operations start in stage order).
    fn validate_frozen(&self) -> Result<(), ScheduleError> {
        let (n, g) = (self.n(), self.g());
        let mut seen = vec![false; n * g];
        for f in &self.frozen {
            if f.job >= n || f.stage >= g || f.machine >= self.stages[f.stage].machines.len() {
                return Err(ScheduleError::Invalid(format!(
                    "frozen operation (job #{}, stage #{}, machine #{}) is out of range",
                    f.job, f.stage, f.machine
                )));
            }
            if !in_range(f.start) {
                return Err(ScheduleError::Invalid(format!(
                    "frozen operation of job {} at stage {}: start out of range",
                    self.jobs[f.job].name, self.stages[f.stage].name
                )));
            }
            let idx = f.job * g + f.stage;
            if seen[idx] {
                return Err(ScheduleError::Invalid(format!(
                    "job {} (#{}) stage {} (#{}) is frozen twice",
                    self.jobs[f.job].name, f.job, self.stages[f.stage].name, f.stage
                )));
            }
            seen[idx] = true;
        }
        for f in &self.frozen {
            if f.stage > 0 && !seen[f.job * g + f.stage - 1] {
                return Err(ScheduleError::Invalid(format!(
                    "job {} (#{}) stage {} is frozen but its previous stage is not",
                    self.jobs[f.job].name, f.job, self.stages[f.stage].name
                )));
            }
        }
        Ok(())
    }
}

/// Whether a time lies within the accepted range (±[`TIME_LIMIT`]).
fn in_range(t: Time) -> bool {
    (-TIME_LIMIT..=TIME_LIMIT).contains(&t)
}

/// Flattened, precomputed view of a validated instance used by the algorithms.
#[derive(Debug, Clone)]
pub(crate) struct Prep {
    pub n: usize,
    pub g: usize,
    /// Machines per stage.
    pub m: Vec<usize>,
    /// Offset of the first machine of each stage in the global machine numbering.
    pub off: Vec<usize>,
    /// Total number of machines.
    pub mt: usize,
    /// Processing time `pt[j * mt + global machine]`.
    pub pt: Vec<Time>,
    /// Shortest processing time over the stage's machines, `pmin[j * g + k]`.
    pub pmin: Vec<Time>,
    /// Minimum lag after stage k, `lmin[j * g + k]` (0 for the last stage).
    pub lmin: Vec<Time>,
    /// Maximum lag after stage k, `lmax[j * g + k]` (`Time::MAX` = unlimited).
    pub lmax: Vec<Time>,
    /// `pmin` stage by stage, `pmin_by_stage[k * n + j]` (the fast decoder reads one stage's
    /// values of many jobs in a row).
    pub pmin_by_stage: Vec<Time>,
    /// Shortest remaining processing after stage k (later stages' `pmin` and minimum
    /// lags from stage k on), stage by stage: `tail_by_stage[k * n + j]`.
    pub tail_by_stage: Vec<Time>,
    /// Earliest start of the first stage of each job (release and `not_before`).
    pub release: Vec<Time>,
    pub not_before: Time,
    pub product: Vec<usize>,
    /// Set-up matrix per stage, flattened `[a * np + b]`, if any.
    pub setup: Vec<Option<Vec<Time>>>,
    pub np: usize,
    /// Sorted unavailability windows per global machine.
    pub windows: Vec<Vec<(Time, Time)>>,
    /// Frozen placement `(global machine, start)` per `j * g + k`.
    pub frozen: Vec<Option<(usize, Time)>>,
    pub has_frozen: bool,
    pub has_max_lag: bool,
    pub has_setup: bool,
    pub has_windows: bool,
    /// All machines of the stage have the same speed.
    pub identical: Vec<bool>,
    /// Physical device of each global machine (shared devices have one index).
    pub phys: Vec<usize>,
    /// Number of physical devices.
    pub nphys: usize,
    /// Some device serves more than one stage.
    pub shared: bool,
    /// The fast FIFO decoder applies (no set-ups, windows or frozen operations,
    /// non-negative release times, fewer than 2^20 jobs, times below 2^40).
    pub fast: bool,
}

/// Processing time of each job on each machine (`j * mt + off[k] + i`) and the shortest per
/// job and stage (`j * g + k`).
fn processing_tables(
    inst: &Instance,
    m: &[usize],
    off: &[usize],
    mt: usize,
) -> (Vec<Time>, Vec<Time>) {
    let (n, g) = (inst.n(), inst.g());
    let mut pt = vec![0; n * mt];
    let mut pmin = vec![0; n * g];
    for j in 0..n {
        for k in 0..g {
            let mut best = Time::MAX;
            for i in 0..m[k] {
                let p = inst.proc_time(j, k, i);
                pt[j * mt + off[k] + i] = p;
                best = best.min(p);
            }
            pmin[j * g + k] = best;
        }
    }
    (pt, pmin)
}

/// Minimum (at least 0) and maximum lag after each job's stage (`j * g + k`; `Time::MAX` =
/// no maximum).
fn lag_tables(inst: &Instance) -> (Vec<Time>, Vec<Time>) {
    let (n, g) = (inst.n(), inst.g());
    let mut lmin = vec![0; n * g];
    let mut lmax = vec![Time::MAX; n * g];
    for j in 0..n {
        for k in 0..g.saturating_sub(1) {
            let l = inst.lag(j, k);
            lmin[j * g + k] = l.min.max(0);
            lmax[j * g + k] = l.max.unwrap_or(Time::MAX);
        }
    }
    (lmin, lmax)
}

/// Each stage's set-up matrix flattened to `np × np` (`None` where the stage has none).
fn setup_tables(inst: &Instance, np: usize) -> Vec<Option<Vec<Time>>> {
    inst.stages
        .iter()
        .map(|s| {
            s.setup.as_ref().map(|mat| {
                let mut v = vec![0; np * np];
                for a in 0..np {
                    for b in 0..np {
                        v[a * np + b] = mat[a][b];
                    }
                }
                v
            })
        })
        .collect()
}

/// Each machine's unavailable windows, sorted and with overlapping ones merged.
fn merged_windows(inst: &Instance, mt: usize) -> Vec<Vec<(Time, Time)>> {
    let mut windows = Vec::with_capacity(mt);
    for st in &inst.stages {
        for mach in &st.machines {
            let mut w: Vec<(Time, Time)> =
                mach.unavailable.iter().map(|w| (w.start, w.end)).collect();
            w.sort_unstable();
            let mut merged: Vec<(Time, Time)> = Vec::with_capacity(w.len());
            for (s, e) in w {
                if let Some(last) = merged.last_mut()
                    && s <= last.1
                {
                    last.1 = last.1.max(e);
                    continue;
                }
                merged.push((s, e));
            }
            windows.push(merged);
        }
    }
    windows
}

/// The physical device of each machine (machines naming the same device share one), the
/// number of devices, and whether any device serves more than one machine.
fn physical_devices(inst: &Instance, mt: usize) -> (Vec<usize>, usize, bool) {
    let mut names: Vec<(String, usize)> = Vec::new();
    let mut phys = Vec::with_capacity(mt);
    let mut nphys = 0;
    let mut shared = false;
    for st in &inst.stages {
        for mach in &st.machines {
            match &mach.physical {
                Some(name) => {
                    if let Some(&(_, i)) = names.iter().find(|(n2, _)| n2 == name) {
                        phys.push(i);
                        shared = true;
                    } else {
                        names.push((name.clone(), nphys));
                        phys.push(nphys);
                        nphys += 1;
                    }
                }
                None => {
                    phys.push(nphys);
                    nphys += 1;
                }
            }
        }
    }
    (phys, nphys, shared)
}

/// A bound on every time in a plan without set-ups or windows (for the packed sort keys of
/// the fast decoder).
fn fast_horizon(inst: &Instance, pt: &[Time], lmin: &[Time]) -> Time {
    let (n, g) = (inst.n(), inst.g());
    pt.iter()
        .copied()
        .max()
        .unwrap_or(0)
        .saturating_mul((n * g) as Time)
        .saturating_add(lmin.iter().fold(0, |a: Time, &b| a.saturating_add(b)))
        .saturating_add(
            inst.jobs
                .iter()
                .map(|j| j.release)
                .max()
                .unwrap_or(0)
                .max(inst.not_before),
        )
}

/// Shortest processing time and the shortest remaining work after each stage (processing
/// plus minimum lags), both indexed stage-major (`k * n + j`).
fn stage_tables(n: usize, g: usize, pmin: &[Time], lmin: &[Time]) -> (Vec<Time>, Vec<Time>) {
    let mut pmin_by_stage = vec![0; n * g];
    let mut tail_by_stage = vec![0; n * g];
    for j in 0..n {
        for k in 0..g {
            pmin_by_stage[k * n + j] = pmin[j * g + k];
        }
        for k in (0..g.saturating_sub(1)).rev() {
            let idx = j * g + k;
            tail_by_stage[k * n + j] = tail_by_stage[(k + 1) * n + j] + pmin[idx + 1] + lmin[idx];
        }
    }
    (pmin_by_stage, tail_by_stage)
}

impl Prep {
    /// Builds every flat table of `inst` the decoders read.
    pub fn new(inst: &Instance) -> Self {
        let n = inst.n();
        let g = inst.g();
        let m: Vec<usize> = inst.stages.iter().map(|s| s.machines.len()).collect();
        let mut off = Vec::with_capacity(g);
        let mut mt = 0;
        for &mk in &m {
            off.push(mt);
            mt += mk;
        }
        let (pt, pmin) = processing_tables(inst, &m, &off, mt);
        let (lmin, lmax) = lag_tables(inst);
        let product: Vec<usize> = inst.jobs.iter().map(|j| j.product).collect();
        let np = product.iter().copied().max().unwrap_or(0) + 1;
        let setup = setup_tables(inst, np);
        let has_setup = setup.iter().flatten().any(|v| v.iter().any(|&x| x > 0));
        let windows = merged_windows(inst, mt);
        let has_windows = windows.iter().any(|w| !w.is_empty());
        let mut frozen = vec![None; n * g];
        for f in &inst.frozen {
            frozen[f.job * g + f.stage] = Some((off[f.stage] + f.machine, f.start));
        }
        let (phys, nphys, shared) = physical_devices(inst, mt);
        let horizon = fast_horizon(inst, &pt, &lmin);
        let identical: Vec<bool> = inst
            .stages
            .iter()
            .map(|s| {
                s.machines
                    .windows(2)
                    .all(|w| w[0].speed_percent == w[1].speed_percent)
            })
            .collect();
        let release: Vec<Time> = inst
            .jobs
            .iter()
            .map(|j| j.release.max(inst.not_before))
            .collect();
        let (pmin_by_stage, tail_by_stage) = stage_tables(n, g, &pmin, &lmin);
        Self {
            n,
            g,
            m,
            off,
            mt,
            pt,
            pmin,
            pmin_by_stage,
            tail_by_stage,
            lmin,
            has_max_lag: lmax.iter().any(|&x| x != Time::MAX),
            lmax,
            not_before: inst.not_before,
            product,
            setup,
            np,
            windows,
            fast: !shared
                && horizon < (1 << 43)
                && !has_setup
                && !has_windows
                && inst.frozen.is_empty()
                && n < (1 << 20)
                && release.iter().all(|&r| r >= 0)
                && inst.not_before >= 0,
            identical,
            phys,
            nphys,
            shared,
            release,
            has_frozen: !inst.frozen.is_empty(),
            frozen,
            has_setup,
            has_windows,
        }
    }

    #[inline]
    pub fn p(&self, j: usize, gm: usize) -> Time {
        self.pt[j * self.mt + gm]
    }

    /// Set-up time on a machine of stage `k` from job `a` to job `b` (`a = usize::MAX`: none).
    #[inline]
    pub fn setup_time(&self, k: usize, a: usize, b: usize) -> Time {
        if a == usize::MAX {
            return 0;
        }
        match &self.setup[k] {
            Some(v) => v[self.product[a] * self.np + self.product[b]],
            None => 0,
        }
    }

    /// Earliest `t >= ready` such that `[t, t + p)` overlaps no window of machine `gm`
    /// (a zero-length operation counts as `[t, t + 1)`).
    #[inline]
    pub fn fit_windows(&self, gm: usize, ready: Time, p: Time) -> Time {
        let q = p.max(1);
        let mut t = ready;
        for &(ws, we) in &self.windows[gm] {
            if we <= t {
                continue;
            }
            if t + q <= ws {
                return t;
            }
            t = we;
        }
        t
    }
}
