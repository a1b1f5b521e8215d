//! What one replication hands to the statistics across replications, and the generator its
//! draws come from.

use crate::results::{Observation, Replication};
use crate::sketch::Sketch;

/// The name of the generator, for results.
pub const RNG_NAME: &str = "ChaCha8 (rand_chacha 0.9); replication r uses stream r of the seed";

/// Everything one replication gives: its summary, the sketches of its observations (merged
/// into the pooled percentiles), its weekly utilisation and, on request, the raw observations.
#[derive(Debug)]
pub(crate) struct RepOutput {
    pub rep: Replication,
    /// Vein-to-vein days of the treated cohort patients.
    pub v2v: Sketch,
    /// Ages (days) of the unfinished cohort patients at the cut-off.
    pub unfinished: Sketch,
    /// Per flat step: waits, hours.
    pub waits: Vec<Sketch>,
    /// Per resource, per week: utilisation.
    pub weekly: Vec<Vec<f64>>,
    pub observations: Vec<Observation>,
}
