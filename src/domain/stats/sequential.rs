//! An anytime-valid test that the canary's error rate exceeds the baseline's by more than
//! `max_ratio`, on counts since the deploy started (a mixture sequential probability ratio test,
//! mSPRT, after Lindon & Malek, "Rapid Regression Detection in Software Deployments through
//! Sequential Testing", arXiv 2205.14762).
//!
//! # The model
//! Errors of each track arrive as Poisson processes with rates `λ_c · c` and `λ_b · b` (per-request
//! error rates times request counts). Given that an error happened, it is the canary's with
//! probability `p = λ_c c / (λ_c c + λ_b b)`: conditioning on the total number of errors `n`, the
//! canary's errors `x` are Binomial(n, p), whatever the (unknown, shared) level of errors.
//! The hypothesis "the canary is no worse than `max_ratio` × the baseline", `λ_c ≤ r λ_b`, is
//! `p ≤ p0 = r c / (r c + b)`.
//!
//! # The statistic
//! `Λ = ∫ L(p) / L(p0) dπ(p)` with `L(p) = p^x (1 - p)^(n - x)` and the prior `π` a Beta(a, b)
//! truncated to `(p0, 1)` — by default Beta(1, 1), uniform over every share worse than `p0`
//! ([`Prior::default`]). In closed form
//! `Λ = B(x + a, n - x + b) (1 - I_p0(x + a, n - x + b)) / (B(a, b) (1 - I_p0(a, b))) / L(p0)`,
//! computed in log space (`ln_beta`, `ln(1 - I)`) so a million errors neither overflow nor
//! underflow. The test rejects ("breached") when `ln Λ ≥ ln(1 / alpha)`.
//!
//! # Why checking every interval keeps false alarms ≤ alpha
//! Each error multiplies `L(p)/L(p0)` by `p/p0` (canary) or `(1-p)/(1-p0)` (baseline); under a
//! true share `p' ≤ p0` the expected factor is `p'p/p0 + (1-p')(1-p)/(1-p0)`, which is 1 at
//! `p' = p0` and grows with `p'` when `p > p0`, so it is ≤ 1. Each `L(p)/L(p0)` with `p > p0` is
//! then a nonnegative supermartingale under the null (over errors, and so over any checks), and
//! so is their mixture `Λ` (this is why the prior sits on `p > p0` only: a two-sided mixture is not
//! a supermartingale for `p' < p0`). `Λ_0 = 1`, and Ville's inequality bounds the chance that a
//! nonnegative supermartingale *ever* reaches `1/alpha` by `alpha · Λ_0 = alpha`: looking after
//! every interval, at any times chosen by anything seen so far, for as long as the canary runs,
//! raises the false-alarm rate above alpha never. A fixed-sample test checked repeatedly does not
//! have this property (its false alarms grow with the number of looks).
//!
//! Caveats: `p0` is taken from the cumulative traffic share, which is exact while the canary's
//! share of traffic is steady (the usual case: a fixed weight); counts from Prometheus'
//! `increase()` may be fractional and are used as they are.

use super::special::{ln_beta, ln_beta_inc_upper};
use serde::{Deserialize, Serialize};

/// The Beta(a, b) prior on the canary's share of errors, truncated to shares worse than `p0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prior {
    pub a: f64,
    pub b: f64,
}

impl Default for Prior {
    /// Beta(1, 1): every worse share equally likely. It makes no assumption about how large a
    /// regression is, at a small cost in speed against a prior centred on the regression sought.
    fn default() -> Self {
        Prior { a: 1.0, b: 1.0 }
    }
}

/// Counts since the deploy started, per track.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequentialCounts {
    pub canary_errors: f64,
    pub canary_requests: f64,
    pub baseline_errors: f64,
    pub baseline_requests: f64,
}

/// One check of the test, stored in the check's event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequential {
    pub canary_errors: f64,
    pub canary_requests: f64,
    pub baseline_errors: f64,
    pub baseline_requests: f64,
    /// The canary's share of requests, `c / (c + b)`; `None` without any request.
    pub traffic_share: Option<f64>,
    /// The canary's share of errors, `x / n`; `None` without any error.
    pub error_share: Option<f64>,
    /// The largest share of errors the null allows, `p0 = r c / (r c + b)`.
    pub null_share: Option<f64>,
    pub max_ratio: f64,
    pub alpha: f64,
    /// `ln Λ` (0 when there is nothing to judge yet).
    pub statistic: f64,
    /// `ln(1 / alpha)`.
    pub threshold: f64,
    pub breached: bool,
}

/// Inputs the test refuses (the configuration should have refused them first).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SequentialError {
    #[error("alpha must be between 0 and 1 (exclusive), got {0}")]
    Alpha(f64),
    #[error("max_ratio must be a positive number, got {0}")]
    MaxRatio(f64),
    #[error("the prior's parameters must be positive, got Beta({0}, {1})")]
    Prior(f64, f64),
    #[error("{name} must be a finite count ≥ 0, got {value}")]
    Count { name: &'static str, value: f64 },
}

/// The test with the default prior, Beta(1, 1) truncated to `(p0, 1)`.
pub fn sequential(
    counts: SequentialCounts,
    max_ratio: f64,
    alpha: f64,
) -> Result<Sequential, SequentialError> {
    sequential_with_prior(counts, max_ratio, alpha, Prior::default())
}

/// The test with a chosen prior.
pub fn sequential_with_prior(
    counts: SequentialCounts,
    max_ratio: f64,
    alpha: f64,
    prior: Prior,
) -> Result<Sequential, SequentialError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(SequentialError::Alpha(alpha));
    }
    if !(max_ratio.is_finite() && max_ratio > 0.0) {
        return Err(SequentialError::MaxRatio(max_ratio));
    }
    if !(prior.a.is_finite() && prior.a > 0.0 && prior.b.is_finite() && prior.b > 0.0) {
        return Err(SequentialError::Prior(prior.a, prior.b));
    }
    let SequentialCounts {
        canary_errors: x,
        canary_requests: c,
        baseline_errors: y,
        baseline_requests: b,
    } = counts;
    for (name, value) in [
        ("canary_errors", x),
        ("canary_requests", c),
        ("baseline_errors", y),
        ("baseline_requests", b),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(SequentialError::Count { name, value });
        }
    }
    let threshold = (1.0 / alpha).ln();
    let n = x + y;
    let traffic_share = (c + b > 0.0).then(|| c / (c + b));
    let error_share = (n > 0.0).then(|| x / n);
    // Without traffic on both tracks there is no share to compare (p0 would be 0 or 1).
    let null_share = (c > 0.0 && b > 0.0).then(|| max_ratio * c / (max_ratio * c + b));
    let statistic = match null_share {
        Some(p0) if n > 0.0 => log_mixture_ratio(x, n, p0, prior),
        _ => 0.0,
    };
    Ok(Sequential {
        canary_errors: x,
        canary_requests: c,
        baseline_errors: y,
        baseline_requests: b,
        traffic_share,
        error_share,
        null_share,
        max_ratio,
        alpha,
        statistic,
        threshold,
        breached: statistic >= threshold,
    })
}

/// `ln Λ` for `x` canary errors out of `n`, the null share `p0` in (0, 1), and the prior.
pub fn log_mixture_ratio(x: f64, n: f64, p0: f64, prior: Prior) -> f64 {
    let (a, b) = (x + prior.a, n - x + prior.b);
    let ln_numerator = ln_beta(a, b) + ln_beta_inc_upper(a, b, p0);
    let ln_prior_mass = ln_beta(prior.a, prior.b) + ln_beta_inc_upper(prior.a, prior.b, p0);
    let ln_null = x * p0.ln() + (n - x) * (-p0).ln_1p();
    ln_numerator - ln_prior_mass - ln_null
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(x: f64, c: f64, y: f64, b: f64) -> SequentialCounts {
        SequentialCounts {
            canary_errors: x,
            canary_requests: c,
            baseline_errors: y,
            baseline_requests: b,
        }
    }

    fn close(got: f64, want: f64, abs: f64) {
        assert!(
            (got - want).abs() <= abs,
            "got {got}, want {want} (difference {:e} > {abs:e})",
            (got - want).abs()
        );
    }

    // The reference: SciPy 1.17.1, ln Λ by numerical integration of the truncated Beta mixture
    // (no closed form, no incomplete beta), the integrand scaled by its maximum:
    //   from scipy import integrate; from scipy.stats import beta
    //   def log_lambda(x, c, y, b, r, a=1.0, bb=1.0):
    //       n = x + y; p0 = r*c/(r*c+b)
    //       f = lambda p: (x*np.log(p/p0) + (n-x)*np.log1p(-p) - (n-x)*np.log1p(-p0)
    //                      + beta.logpdf(p, a, bb))
    //       mode = min(max((x+a-1)/(n+a+bb-2), p0), 1-1e-12)
    //       grid = np.linspace(p0, 1, 200001)[1:-1]
    //       fmax = max(f(mode), np.max(f(grid)))
    //       val, err = integrate.quad(lambda p: np.exp(f(p)-fmax), p0, 1, points=[mode],
    //                                 limit=500, epsabs=0, epsrel=1e-12)
    //       return fmax + np.log(val) - beta.logsf(p0, a, bb)
    // (x, c, y, b, r) -> ln Λ:
    //   (3, 100, 10, 900, 1.0) -> -0.2734646069800044
    //   (12, 1000, 90, 9000, 1.0) -> -2.5148551007667983
    //   (30, 1000, 90, 9000, 1.0) -> 8.868056428464707
    //   (250, 5000, 1500, 45000, 1.5) -> -4.378394039556767
    //   (0, 100, 5, 900, 1.0) -> -1.791759469228055
    //   (5, 100, 0, 900, 1.0) -> 9.826525511399499
    //   (6000, 100000, 30000, 900000, 1.0) -> 750.9141165136863
    //   (1180, 100000, 9000, 900000, 1.0) -> 8.967797649630283
    //   log_lambda(30, 1000, 90, 9000, 1.0, 2.0, 10.0) -> 9.839342285045468
    #[test]
    fn the_statistic_matches_a_numerical_integration_of_the_mixture() {
        let cases = [
            ((3.0, 100.0, 10.0, 900.0, 1.0), -0.2734646069800044),
            ((12.0, 1000.0, 90.0, 9000.0, 1.0), -2.5148551007667983),
            ((30.0, 1000.0, 90.0, 9000.0, 1.0), 8.868056428464707),
            ((250.0, 5000.0, 1500.0, 45000.0, 1.5), -4.378394039556767),
            ((0.0, 100.0, 5.0, 900.0, 1.0), -1.791759469228055),
            ((5.0, 100.0, 0.0, 900.0, 1.0), 9.826525511399499),
            (
                (6000.0, 100000.0, 30000.0, 900000.0, 1.0),
                750.9141165136863,
            ),
            ((1180.0, 100000.0, 9000.0, 900000.0, 1.0), 8.967797649630283),
        ];
        for ((x, c, y, b, r), want) in cases {
            let want: f64 = want;
            let s = sequential(counts(x, c, y, b), r, 0.01).expect("valid");
            // 1e-9 absolute on ln Λ (the big case: 1e-7 relative to its 750).
            let tolerance = 1e-9_f64.max(want.abs() * 1e-10);
            close(s.statistic, want, tolerance);
        }
        let centred = sequential_with_prior(
            counts(30.0, 1000.0, 90.0, 9000.0),
            1.0,
            0.01,
            Prior { a: 2.0, b: 10.0 },
        )
        .expect("valid");
        close(centred.statistic, 9.839342285045468, 1e-9);
    }

    #[test]
    fn a_check_stores_counts_shares_statistic_threshold_and_verdict() {
        // 30 of 120 errors on 10 % of the traffic: p0 = 0.1, Λ ≈ e^8.87 ≥ 1/0.01 = e^4.61.
        let s = sequential(counts(30.0, 1000.0, 90.0, 9000.0), 1.0, 0.01).expect("valid");
        assert_eq!(s.traffic_share, Some(0.1));
        assert_eq!(s.error_share, Some(0.25));
        assert_eq!(s.null_share, Some(0.1));
        close(s.threshold, 100f64.ln(), 1e-15);
        assert!(s.breached);
        // The same counts at alpha = 1e-6 (threshold 13.8) do not breach.
        assert!(
            !sequential(counts(30.0, 1000.0, 90.0, 9000.0), 1.0, 1e-6)
                .expect("valid")
                .breached
        );
        // Allowing the canary 3× the baseline's rate: 25 % of errors on 10 % of traffic is fine.
        let lenient = sequential(counts(30.0, 1000.0, 90.0, 9000.0), 3.0, 0.01).expect("valid");
        assert!(!lenient.breached, "{lenient:?}");
        let json = serde_json::to_string(&s).expect("serializes");
        let back: Sequential = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, s);
    }

    #[test]
    fn nothing_to_judge_is_a_zero_statistic_not_a_breach() {
        for c in [
            counts(0.0, 0.0, 0.0, 0.0),
            counts(0.0, 1000.0, 0.0, 9000.0),
            counts(5.0, 1000.0, 0.0, 0.0),
            counts(0.0, 0.0, 7.0, 9000.0),
        ] {
            let s = sequential(c, 1.0, 0.01).expect("valid");
            assert_eq!(s.statistic, 0.0, "{c:?}");
            assert!(!s.breached);
        }
        assert_eq!(
            sequential(counts(0.0, 0.0, 0.0, 0.0), 1.0, 0.01)
                .expect("valid")
                .traffic_share,
            None
        );
    }

    #[test]
    fn large_counts_stay_finite() {
        let s = sequential(counts(2.0e6, 1.0e9, 1.0e7, 9.0e9), 1.0, 0.01).expect("valid");
        assert!(s.statistic.is_finite() && s.breached, "{s:?}");
        let s = sequential(counts(1.0e6, 1.0e9, 9.0e6, 9.0e9), 1.0, 0.01).expect("valid");
        assert!(s.statistic.is_finite() && !s.breached, "{s:?}");
    }

    #[test]
    fn bad_parameters_and_counts_are_refused_by_name() {
        let ok = counts(1.0, 10.0, 1.0, 10.0);
        assert_eq!(sequential(ok, 1.0, 0.0), Err(SequentialError::Alpha(0.0)));
        assert_eq!(sequential(ok, 1.0, 1.0), Err(SequentialError::Alpha(1.0)));
        assert_eq!(
            sequential(ok, 0.0, 0.01),
            Err(SequentialError::MaxRatio(0.0))
        );
        assert!(matches!(
            sequential(ok, f64::NAN, 0.01),
            Err(SequentialError::MaxRatio(_))
        ));
        assert_eq!(
            sequential(counts(-1.0, 10.0, 1.0, 10.0), 1.0, 0.01),
            Err(SequentialError::Count {
                name: "canary_errors",
                value: -1.0
            })
        );
        let err = sequential(counts(1.0, 10.0, 1.0, f64::INFINITY), 1.0, 0.01)
            .expect_err("infinite count");
        assert!(err.to_string().contains("baseline_requests"), "{err}");
        assert!(matches!(
            sequential_with_prior(ok, 1.0, 0.01, Prior { a: 0.0, b: 1.0 }),
            Err(SequentialError::Prior(..))
        ));
    }

    /// splitmix64: a small deterministic source for the simulation.
    struct Rng(u64);
    impl Rng {
        fn next_f64(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64
        }
        /// Knuth's multiplication method (fine for the small means used here).
        fn poisson(&mut self, mean: f64) -> f64 {
            let limit = (-mean).exp();
            let mut k = 0.0;
            let mut p = self.next_f64();
            while p > limit {
                k += 1.0;
                p *= self.next_f64();
            }
            k
        }
    }

    /// How many of `runs` canaries breach within 60 checks (30 min at 30 s): 50 canary and 450
    /// baseline requests per interval (10 % of 1,000/min), the baseline failing 1 % of them.
    fn rejection_rate(canary_error_rate: f64, alpha: f64, runs: usize, seed: u64) -> f64 {
        let mut rng = Rng(seed);
        let mut rejected = 0;
        for _ in 0..runs {
            let (mut x, mut c, mut y, mut b) = (0.0, 0.0, 0.0, 0.0);
            for _ in 0..60 {
                c += 50.0;
                b += 450.0;
                x += rng.poisson(50.0 * canary_error_rate);
                y += rng.poisson(450.0 * 0.01);
                let s = sequential(counts(x, c, y, b), 1.0, alpha).expect("valid");
                if s.breached {
                    rejected += 1;
                    break;
                }
            }
        }
        rejected as f64 / runs as f64
    }

    #[test]
    fn checked_sixty_times_it_keeps_false_alarms_below_alpha_and_finds_a_doubled_error_rate() {
        let alpha = 0.05;
        let h0 = rejection_rate(0.01, alpha, 1000, 18);
        // Ville bounds it by alpha; 1,000 runs have a standard error of 0.007 at 0.05.
        assert!(h0 <= alpha + 0.015, "false alarms {h0} over 60 looks");
        let h1 = rejection_rate(0.02, alpha, 300, 19);
        assert!(h1 >= 0.8, "a 2× error rate found in only {h1} of canaries");
    }
}
