//! Load benchmark of the device series path (issue 16 item 6): `--devices` devices each
//! stream `--rate` values per second of one monitored series into the batch engine and the
//! store, one `record series` request per device per block (`--block-ms`), each request its
//! own transaction (`store::batch::execute`, as the server runs it).
//!
//! Two modes:
//! * `flat-out` (default): every block of `--seconds` stream seconds is sent as fast as the
//!   engine and the store take them; prints the sustained rate (values/s) against the rate the
//!   devices produce, and the request latency early and late in the run (the store keeps
//!   each batch replayed between requests, so a request's cost should not grow with the
//!   record; early against late latency shows whether it does).
//! * `--paced`: blocks are sent when the wall clock reaches their last sample (real time);
//!   prints the lag from a block's last sample to its commit.
//!
//! Each device belongs to its own batch of the example CAR-T recipe, standing in its thaw
//! step with the thaw module scanned; the series is the step's bath temperature. Run with
//! `benches/device_stream.sh` (release build, one core).

#[path = "../tests/support/thaw.rs"]
mod thaw;

use std::time::{Duration, Instant};

use batch::engine::Sample;
use batch::entry::Label;
use batch::rehearsal::Cast;
use batch::{Command, LotRegister, NewOrder, Request};
use recipe::bind::Binding;
use recipe::equipment::Inventory;
use recipe::recipe::Recipe;
use recipe::{Date, DateTime};
use store::Db;
use store::batch as sb;
use testkit::RECIPE;

const DIN: &str = "A999925123456";

struct Opts {
    devices: usize,
    rate: u32,
    block_ms: u32,
    seconds: u32,
    paced: bool,
    db: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: device_stream [--devices N] [--rate VALUES_PER_S] [--block-ms MS] [--seconds S] [--paced] [--db PATH|URL]"
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        devices: 50,
        rate: 10,
        block_ms: 1000,
        seconds: 120,
        paced: false,
        db: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        let num = |s: String| s.parse::<u64>().unwrap_or_else(|_| usage());
        match a.as_str() {
            "--devices" => o.devices = num(val()) as usize,
            "--rate" => o.rate = num(val()) as u32,
            "--block-ms" => o.block_ms = num(val()) as u32,
            "--seconds" => o.seconds = num(val()) as u32,
            "--paced" => o.paced = true,
            "--db" => o.db = Some(val()),
            _ => usage(),
        }
    }
    if o.devices == 0 || o.rate == 0 || o.block_ms == 0 || o.seconds == 0 {
        usage()
    }
    o
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Peak resident set size of this process (Linux: `VmHWM` of /proc/self/status).
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(format!("{:.0} MiB", kb / 1024.0))
}

fn summary(label: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{label}: {} requests, latency ms p50 {:.2} p99 {:.2} max {:.2}",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.99),
        pct(&v, 1.0)
    );
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// What every batch of the run shares: the example recipe bound to the example plant, the
/// people acting and the thaw step's device.
struct Plant {
    recipe: Recipe,
    inventory: Inventory,
    binding: Binding,
    cast: Cast,
    lots: LotRegister,
    /// The equipment bound to the thaw step: the device streaming the bath temperature.
    device: String,
}

fn load_plant() -> Res<Plant> {
    let (recipe, inventory, binding) = testkit::fixtures();
    let device = binding
        .assignments
        .iter()
        .find(|a| a.step == "thaw")
        .and_then(|a| a.equipment.clone())
        .ok_or("thaw is not bound")?;
    Ok(Plant {
        recipe,
        inventory,
        binding,
        cast: Cast::example(),
        lots: LotRegister::default(),
        device,
    })
}

/// Writes the equipment twins when the store has none yet: they keep the usage counters
/// the thaw scan books.
fn write_equipment_twins(db: &Db, inventory: &Inventory) -> Res<()> {
    let as_of = Date::parse("2026-12-01").ok_or("date")?;
    let missing = db.read(|tx| store::counters::adopt(tx, &mut inventory.clone()))?;
    if !missing.is_empty() {
        db.transaction(|tx| -> Result<(), store::StoreError> {
            for e in &inventory.equipment {
                sb::write_twin(tx, aas::twins::equipment_twin(e, as_of))?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Opens batch `id` (device `d`'s) and brings it to its thaw step with the device scanned,
/// each request its own transaction.
fn open_at_thaw(db: &Db, plant: &Plant, id: &str, d: usize, t0: DateTime) -> Res<()> {
    let label = Label {
        coi: "COI-STREAM".into(),
        din: DIN.into(),
    };
    let order = NewOrder {
        batch: id.to_string(),
        patient: format!("PSN-{d:03}"),
        coi: "COI-STREAM".into(),
        din: format!("{DIN}9"),
        planned_start: t0,
        ship_step: None,
    };
    db.transaction(|tx| {
        sb::open(
            tx,
            &order,
            RECIPE,
            &plant.recipe,
            &plant.binding,
            &plant.cast.planner,
            &plant.inventory,
            &plant.lots,
            t0,
        )
    })?;
    let receipt = Command::ReceiveApheresis {
        location: "goods-in".into(),
        scanned: label.clone(),
    };
    let steps = std::iter::once(receipt).chain(thaw::to_thaw(&label, DIN, &plant.device));
    for cmd in steps {
        let name = cmd.name();
        db.transaction(|tx| {
            sb::execute(
                tx,
                id,
                &Request::new(cmd.clone()),
                &plant.cast.operator,
                &plant.inventory,
                &plant.lots,
                t0,
            )
        })
        .map_err(|e| format!("{id} {name}: {e}"))?;
    }
    Ok(())
}

/// How the stream is cut into blocks.
struct Blocks {
    /// Samples in one block.
    per_block: usize,
    /// Milliseconds between two samples.
    step_ms: i64,
    /// Blocks each device sends.
    blocks: usize,
    /// Source time of the first sample, milliseconds.
    start_ms: i64,
}

impl Blocks {
    fn new(o: &Opts, t0: DateTime) -> Blocks {
        let per_block = (u64::from(o.rate) * u64::from(o.block_ms))
            .div_ceil(1000)
            .max(1) as usize;
        Blocks {
            per_block,
            step_ms: i64::from(o.block_ms) / per_block as i64,
            blocks: (u64::from(o.seconds) * 1000 / u64::from(o.block_ms)) as usize,
            start_ms: t0.unix_seconds() * 1000,
        }
    }

    /// Device `d`'s samples of block `b`, starting at `first_ms`.
    fn samples(&self, b: usize, d: usize, first_ms: i64) -> Vec<Sample> {
        (0..self.per_block)
            .map(|i| {
                let k = (b * self.per_block + i) as f64;
                Sample {
                    time_ms: first_ms + self.step_ms * i as i64,
                    // ASSUMPTION: a bath held at 37 °C ± 0.3 °C (recipe range 36–38 °C)
                    value: 37.0 + 0.3 * (k / 50.0 + d as f64).sin(),
                }
            })
            .collect()
    }
}

/// What the stream measured.
struct Streamed {
    /// Each request's latency, in the order sent.
    latencies: Vec<Duration>,
    /// Paced: each block's lag from its last sample to its commit.
    lags: Vec<Duration>,
    /// Deviations the blocks raised.
    deviations: usize,
    /// When the stream started.
    wall: Instant,
}

/// Sends every device's blocks, block by block (paced: when the wall clock reaches a
/// block's last sample), one `record series` request a transaction.
fn stream(db: &Db, plant: &Plant, o: &Opts, run: u32, bl: &Blocks) -> Res<Streamed> {
    let mut latencies = Vec::with_capacity(bl.blocks * o.devices);
    let mut lags = Vec::new();
    let mut deviations = 0usize;
    let wall = Instant::now();
    for b in 0..bl.blocks {
        let first_ms = bl.start_ms + (b as i64) * i64::from(o.block_ms);
        let due = Duration::from_millis(u64::from(o.block_ms) * (b as u64 + 1));
        if o.paced {
            let now = wall.elapsed();
            if now < due {
                std::thread::sleep(due - now);
            }
        }
        for d in 0..o.devices {
            let samples = bl.samples(b, d, first_ms);
            let last_ms = samples.last().map_or(first_ms, |s| s.time_ms);
            let now = DateTime::from_unix_seconds(last_ms.div_euclid(1000));
            let req = Request::new(Command::RecordSeries {
                step: "thaw".into(),
                field: "bath_temperature".into(),
                unit: "°C".into(),
                device: plant.device.clone(),
                address: Some("ns=2;s=Thaw.BathTemperature".into()),
                samples,
            });
            let id = format!("S{run}-{d:03}");
            let sent = Instant::now();
            let (out, _) = db.transaction(|tx| {
                sb::execute(
                    tx,
                    &id,
                    &req,
                    &plant.cast.operator,
                    &plant.inventory,
                    &plant.lots,
                    now,
                )
            })?;
            deviations += out
                .entries()
                .iter()
                .filter(|e| matches!(e.body, batch::Body::Deviation(_)))
                .count();
            latencies.push(sent.elapsed());
            if o.paced {
                lags.push(wall.elapsed().saturating_sub(due));
            }
        }
    }
    Ok(Streamed {
        latencies,
        lags,
        deviations,
        wall,
    })
}

/// Prints the rate taken against the rate produced, the latencies early, late and by tenth
/// of the run, the peak memory and (paced) the lags.
fn print_results(o: &Opts, bl: &Blocks, s: Streamed) {
    let Streamed {
        latencies,
        lags,
        deviations,
        wall,
    } = s;
    let produced = o.devices as f64 * f64::from(o.rate);
    let elapsed = wall.elapsed().as_secs_f64();
    let values = (bl.blocks * o.devices * bl.per_block) as f64;
    println!(
        "{} requests ({values} values) in {elapsed:.2} s wall: {:.0} values/s accepted, {:.1} requests/s; needed {produced} values/s ({:.2}x); {deviations} deviations",
        latencies.len(),
        values / elapsed,
        latencies.len() as f64 / elapsed,
        values / elapsed / produced
    );
    let tenth = (latencies.len() / 10).max(1);
    summary("first 10 % of requests", latencies[..tenth].to_vec());
    summary(
        "last 10 % of requests",
        latencies[latencies.len() - tenth..].to_vec(),
    );
    // p50 of each tenth of the run: flat when a request's cost does not grow with the record
    let tenths: Vec<String> = latencies
        .chunks(tenth)
        .take(10)
        .map(|c| {
            let mut c = c.to_vec();
            c.sort();
            format!("{:.2}", pct(&c, 0.5))
        })
        .collect();
    println!("latency ms p50 by tenth of the run: {}", tenths.join(" "));
    summary("all requests", latencies);
    println!(
        "peak resident memory: {}",
        peak_rss().unwrap_or_else(|| "not known on this system".into())
    );
    if o.paced {
        let mut l = lags;
        l.sort();
        println!(
            "lag (last sample of a block to its commit, ms): p50 {:.1} p99 {:.1} max {:.1}; at the end {:.1}",
            pct(&l, 0.5),
            pct(&l, 0.99),
            pct(&l, 1.0),
            wall.elapsed().as_secs_f64() * 1000.0 - f64::from(o.seconds) * 1000.0
        );
    }
}

fn main() -> Res<()> {
    let o = parse_opts();
    let plant = load_plant()?;
    let dir = tempfile::tempdir()?;
    let url =
        o.db.clone()
            .unwrap_or_else(|| dir.path().join("stream.db").display().to_string());
    let db = Db::connect(&url)?;
    let t0 = DateTime::parse("2026-12-02T08:10:00Z").ok_or("time")?;
    write_equipment_twins(&db, &plant.inventory)?;
    // Batch ids carry the process id, so runs can share one database.
    let run = std::process::id();
    // Open every batch and bring it to its thaw step with the device scanned.
    let setup = Instant::now();
    for d in 0..o.devices {
        open_at_thaw(&db, &plant, &format!("S{run}-{d:03}"), d, t0)?;
    }
    println!(
        "setup: {} batches at their thaw step in {:.1} s ({})",
        o.devices,
        setup.elapsed().as_secs_f64(),
        db.location()
    );
    let bl = Blocks::new(&o, t0);
    let produced = o.devices as f64 * f64::from(o.rate);
    println!(
        "stream: {} devices x {} values/s = {produced} values/s; {} samples per block, {} blocks per device ({} s of stream)",
        o.devices, o.rate, bl.per_block, bl.blocks, o.seconds
    );
    let streamed = stream(&db, &plant, &o, run, &bl)?;
    print_results(&o, &bl, streamed);
    for d in [0, o.devices - 1] {
        let id = format!("S{run}-{d:03}");
        if let Err(f) = db.read(|tx| sb::verify(tx, &id))? {
            return Err(format!("batch {id} fails verification: {f}").into());
        }
    }
    println!("verified: the first and the last batch's records and rows");
    Ok(())
}
