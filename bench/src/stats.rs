//! Medians over rounds run in turns, shared by the benches.

/// The middle value (of an odd count, as `--rounds` and `--runs` require).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A clap parser for a count of rounds: odd, so that the median is one of them.
pub fn odd(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n % 2 == 1 => Ok(n),
        _ => Err("must be an odd number (the median of an even count is not a round)".into()),
    }
}
