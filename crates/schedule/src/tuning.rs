//! The parameters of the iterated greedy search, shared by the solver (`solve.rs`), which
//! takes them as part of its options, and the search (`search.rs`), which applies them.

use crate::decode::DecoderKind;

/// Parameters of the iterated greedy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// Jobs removed per destruction.
    pub destruct: usize,
    /// Local search insertion window: each job is tried within this many positions of
    /// its place (0 = no local search, `usize::MAX` = full insertion neighbourhood).
    pub ls_window: usize,
    /// Acceptance temperature factor (Ruiz & Stützle: 0.4).
    pub temperature: f64,
    /// Force a decoder for instances without maximum lags (`None` = automatic).
    pub decoder: Option<DecoderKind>,
    /// Forward-backward improvement passes (makespan only).
    pub justify: usize,
    /// Apply them in every evaluation (else to each iteration's result only).
    pub justify_all: bool,
    /// Also construct on the reversed flow and keep the better direction.
    pub try_reverse: bool,
    /// Makespan: stop decoding an insertion candidate as soon as its plan must end later
    /// than the best candidate's (same choices, fewer decoded operations).
    pub cut: bool,
    /// Up to 80 jobs, run the iterated greedy in both directions (half the budget each)
    /// where the reversed flow applies, instead of only in the better construction's.
    pub both_directions: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            destruct: 4,
            ls_window: usize::MAX,
            temperature: 0.4,
            decoder: None,
            justify: 3,
            justify_all: false,
            try_reverse: true,
            cut: true,
            both_directions: true,
        }
    }
}
