//! What a load run sends: the request kinds and their weights (`--mix`), how cards and
//! wallets are drawn (`--distribution uniform|zipf:S`), and a small seeded generator so a
//! run's choices repeat from its seed.

use std::str::FromStr;
use std::sync::Arc;

/// One kind of request of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `GET /echo`: the HTTP and authentication ceiling, no store work.
    Echo,
    /// `POST /cards/{token}/debit` of 1.00 at a point of sale.
    Debit,
    /// `POST /cards/{token}/credit` of 1.00 on the issuer's channel.
    Credit,
    /// `GET /cards/{token}/balance`.
    Balance,
    /// `POST /wallets/{source}/transfer/{destination}` of 1.00.
    Transfer,
    /// Card-issuing API `transactions/debit` of 1.00 on a partner's card.
    IssuingDebit,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Echo, Kind::Debit, Kind::Credit, Kind::Balance, Kind::Transfer, Kind::IssuingDebit];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::Debit => "debit",
            Kind::Credit => "credit",
            Kind::Balance => "balance",
            Kind::Transfer => "transfer",
            Kind::IssuingDebit => "issuing_debit",
        }
    }
}

/// Weights per kind; their sum is positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    pub weights: Vec<(Kind, u32)>,
}

impl FromStr for Mix {
    type Err = String;

    /// `debit=70,credit=10,balance=15,transfer=5`; kinds left out weigh 0.
    fn from_str(text: &str) -> Result<Mix, String> {
        let mut weights = Vec::new();
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let (name, weight) =
                part.split_once('=').ok_or_else(|| format!("`{part}` is not kind=weight"))?;
            let kind =
                Kind::ALL.into_iter().find(|kind| kind.name() == name.trim()).ok_or_else(|| {
                    format!(
                        "unknown kind `{name}` (echo, debit, credit, balance, transfer, issuing_debit)"
                    )
                })?;
            let weight: u32 =
                weight.trim().parse().map_err(|_| format!("`{weight}` is not a whole number"))?;
            if weights.iter().any(|(known, _)| *known == kind) {
                return Err(format!("`{name}` is given twice"));
            }
            weights.push((kind, weight));
        }
        let total: u64 = weights.iter().map(|(_, weight)| u64::from(*weight)).sum();
        if total == 0 {
            return Err("the mix weighs nothing".to_owned());
        }
        Ok(Mix { weights })
    }
}

impl Mix {
    /// The weight of `kind` (0 when the mix leaves it out).
    pub fn weight(&self, kind: Kind) -> u32 {
        self.weights.iter().find(|(known, _)| *known == kind).map_or(0, |(_, weight)| *weight)
    }
}

/// How cards (and transfer wallets) are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    Uniform,
    /// Rank r (from 1) drawn with probability ∝ 1/r^s: the first cards are the hot ones.
    Zipf {
        exponent: f64,
    },
}

impl FromStr for Distribution {
    type Err = String;

    fn from_str(text: &str) -> Result<Distribution, String> {
        if text == "uniform" {
            return Ok(Distribution::Uniform);
        }
        let exponent = text
            .strip_prefix("zipf:")
            .and_then(|exponent| exponent.parse::<f64>().ok())
            .filter(|exponent| exponent.is_finite() && *exponent > 0.0 && *exponent <= 10.0)
            .ok_or_else(|| format!("`{text}` is neither `uniform` nor `zipf:S` (0 < S ≤ 10)"))?;
        Ok(Distribution::Zipf { exponent })
    }
}

/// splitmix64: small, fast, and the same sequence from the same seed everywhere.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    pub fn new(seed: u64) -> SeededRng {
        SeededRng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        // The top 53 bits fit a double's mantissa exactly.
        let bits = self.next_u64() >> 11;
        f64::from(u32::try_from(bits >> 21).unwrap_or(0)) * 2f64.powi(-32)
            + f64::from(u32::try_from(bits & 0x1F_FFFF).unwrap_or(0)) * 2f64.powi(-53)
    }

    /// A uniform index below `bound` (> 0).
    pub fn below(&mut self, bound: usize) -> usize {
        let bound = u64::try_from(bound).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.next_u64() % bound).unwrap_or(0)
    }
}

/// Draws indexes below `len` by a distribution; cheap to clone (the Zipf table is shared).
#[derive(Debug, Clone)]
pub struct Picker {
    len: usize,
    /// Cumulative probabilities of ranks 1..=len for Zipf; empty for uniform.
    cumulative: Arc<Vec<f64>>,
}

impl Picker {
    pub fn new(len: usize, distribution: Distribution) -> Picker {
        let cumulative = match distribution {
            Distribution::Uniform => Vec::new(),
            Distribution::Zipf { exponent } => zipf_table(len, exponent),
        };
        Picker { len: len.max(1), cumulative: Arc::new(cumulative) }
    }

    pub fn pick(&self, rng: &mut SeededRng) -> usize {
        if self.cumulative.is_empty() {
            return rng.below(self.len);
        }
        let unit = rng.next_unit();
        self.cumulative.partition_point(|&cumulative| cumulative <= unit).min(self.len - 1)
    }
}

fn zipf_table(len: usize, exponent: f64) -> Vec<f64> {
    let mut cumulative = Vec::with_capacity(len);
    let mut sum = 0.0;
    for rank in 1..=len {
        // Ranks are far below 2^53: exact as doubles.
        #[allow(clippy::as_conversions, clippy::cast_precision_loss)]
        let weight = (rank as f64).powf(-exponent);
        sum += weight;
        cumulative.push(sum);
    }
    for value in &mut cumulative {
        *value /= sum;
    }
    cumulative
}

/// Draws request kinds by the mix's weights.
#[derive(Debug, Clone)]
pub struct KindPicker {
    /// Kinds with positive weight and their cumulative weights.
    cumulative: Vec<(Kind, u64)>,
}

impl KindPicker {
    pub fn new(mix: &Mix) -> KindPicker {
        let mut sum = 0;
        let cumulative = mix
            .weights
            .iter()
            .filter(|(_, weight)| *weight > 0)
            .map(|(kind, weight)| {
                sum += u64::from(*weight);
                (*kind, sum)
            })
            .collect();
        KindPicker { cumulative }
    }

    /// The kinds it draws.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.cumulative.iter().map(|(kind, _)| *kind)
    }

    pub fn pick(&self, rng: &mut SeededRng) -> Kind {
        let total = self.cumulative.last().map_or(1, |(_, sum)| *sum);
        let draw = rng.next_u64() % total;
        self.cumulative.iter().find(|(_, sum)| draw < *sum).map_or(Kind::Balance, |(kind, _)| *kind)
    }
}

/// Parses `--mix`, as clap's value parser.
pub fn parse_mix(text: &str) -> Result<Mix, String> {
    text.parse()
}

/// Parses `--distribution`, as clap's value parser.
pub fn parse_distribution(text: &str) -> Result<Distribution, String> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_and_distributions_parse() {
        let mix: Mix = "debit=70, credit=10,balance=0".parse().unwrap_or(Mix { weights: vec![] });
        assert_eq!(mix.weights, vec![(Kind::Debit, 70), (Kind::Credit, 10), (Kind::Balance, 0)]);
        assert!("debit=0".parse::<Mix>().is_err());
        assert!("debit=1,debit=2".parse::<Mix>().is_err());
        assert!("refund=1".parse::<Mix>().is_err());
        assert_eq!("zipf:1.1".parse(), Ok(Distribution::Zipf { exponent: 1.1 }));
        assert!("zipf:-1".parse::<Distribution>().is_err());
        // A kind weighed 0 is never drawn, so the run makes no tally for it.
        let kinds: Vec<Kind> = KindPicker::new(&mix).kinds().collect();
        assert_eq!(kinds, vec![Kind::Debit, Kind::Credit]);
    }

    #[test]
    fn draws_follow_the_weights_and_the_skew() {
        let mut rng = SeededRng::new(3);
        let kinds = KindPicker::new(&Mix { weights: vec![(Kind::Debit, 3), (Kind::Credit, 1)] });
        let debits = (0..4000).filter(|_| kinds.pick(&mut rng) == Kind::Debit).count();
        assert!((2700..3300).contains(&debits), "{debits}");
        let zipf = Picker::new(1000, Distribution::Zipf { exponent: 1.2 });
        let first = (0..4000).filter(|_| zipf.pick(&mut rng) == 0).count();
        let uniform = Picker::new(1000, Distribution::Uniform);
        let first_uniform = (0..4000).filter(|_| uniform.pick(&mut rng) == 0).count();
        assert!(first > 500 && first_uniform < 30, "{first} {first_uniform}");
        assert!((0..1000).all(|_| zipf.pick(&mut rng) < 1000));
        assert_eq!(SeededRng::new(9).next_u64(), SeededRng::new(9).next_u64());
        let unit = rng.next_unit();
        assert!((0.0..1.0).contains(&unit));
    }
}
