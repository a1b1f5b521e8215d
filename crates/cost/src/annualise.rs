//! Turning an investment into a yearly cost.

/// Straight-line annualisation: `investment / life_years`, no interest.
pub fn straight_line(investment: f64, life_years: f64) -> f64 {
    if life_years > 0.0 {
        investment / life_years
    } else {
        0.0
    }
}

/// Annuity: the constant yearly payment that repays `investment` with interest at `rate` over
/// `life_years`: `I · r / (1 − (1 + r)^−n)`. A rate of 0 gives the straight-line value.
pub fn annuity(investment: f64, rate: f64, life_years: f64) -> f64 {
    if life_years <= 0.0 {
        return 0.0;
    }
    if rate.abs() < 1e-12 {
        return investment / life_years;
    }
    investment * rate / (1.0 - (1.0 + rate).powf(-life_years))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annuity_matches_textbook_value() {
        // Capital recovery factor (A/P, 10 %, 5) = 0.263797 (interest tables in any
        // engineering-economics textbook, e.g. Park, "Contemporary Engineering Economics",
        // Appendix, 10 % table): 100,000 borrowed for 5 years at 10 % is repaid by
        // 26,379.75 a year.
        let a = annuity(100_000.0, 0.10, 5.0);
        assert!((a - 26_379.748).abs() < 0.01, "{a}");
        // (A/P, 8 %, 10) = 0.149029.
        assert!((annuity(1.0, 0.08, 10.0) - 0.149_029).abs() < 1e-6);
    }

    #[test]
    fn zero_rate_is_straight_line() {
        assert_eq!(annuity(120.0, 0.0, 12.0), 10.0);
        assert_eq!(straight_line(120.0, 12.0), 10.0);
        assert!(annuity(120.0, 0.05, 12.0) > straight_line(120.0, 12.0));
    }

    #[test]
    fn annuity_repays_the_loan() {
        // Paying the annuity each year brings the balance to zero after n years.
        let (inv, r, n) = (250_000.0, 0.06, 8);
        let a = annuity(inv, r, f64::from(n));
        let mut balance = inv;
        for _ in 0..n {
            balance = balance * (1.0 + r) - a;
        }
        assert!(balance.abs() < 1e-6, "{balance}");
    }
}
