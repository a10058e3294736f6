//! How good is each judge (issue 18's "Benchmark (not a test)"): a seeded simulation, no network.
//!
//! Traffic: 1,000 requests/min split between canary and baseline (10 %, and 1 % and 50 % of it to
//! the canary), simulated in 15-second steps for 30 minutes; the baseline fails 1 % of requests
//! and its latencies are log-normal with median 120 ms and p99 400 ms. Scenarios, `RUNS` canaries
//! each (default 1,000; `JUDGES_RUNS` changes it):
//! - A/A: the canary is the baseline (every breach is a false alarm);
//! - errors 2×: the canary fails 2 % of its requests;
//! - latency 1.5×: the canary's latencies are 1.5× the baseline's.
//!
//! Judges, each checked every 30 seconds (60 checks):
//! - threshold (today's): the canary's value over the last minute > baseline × 2 (`max_ratio = 2`),
//!   3 failing checks in a row breach (`failure_limit = 3`); a minute without canary requests is no
//!   data (it neither fails nor resets). On the error rate and on the mean latency.
//! - mann-whitney on latency points (one point per 15 s step: the step's mean latency, as
//!   `rate(sum) / rate(count)` gives): window 10 m (40 points), direction increase, confidence 0.95,
//!   effect_size 0.1, min_points 40 (the default 50 cannot be met by a 10 m window at 15 s);
//!   a breach on the first failing check, and with failure_limit 3.
//! - sequential on cumulative error counts: max_ratio 1, alpha 0.01.
//!
//! The information limit: the time a single fixed-length test at the same alpha would need to
//! reach 50 % power (comparable with a median time to detect) and 90 % power. For errors: the
//! one-sided binomial test of the canary's share of errors (normal approximation); for latency: a
//! z-test of log point values, with the spread of the points measured in the A/A runs.
//!
//! `cargo bench --bench judges` (a few seconds per traffic share in release).

use canarybot::domain::stats::sequential::{Prior, sequential_with_prior};
use canarybot::domain::stats::special::normal_sf;
use canarybot::domain::stats::{Direction, SequentialCounts, mann_whitney};
use std::time::Instant;

const REQUESTS_PER_MIN: f64 = 1000.0;
const STEP_SECS: f64 = 15.0;
const STEPS: usize = 120; // 30 min
const CHECK_EVERY: usize = 2; // 30 s
const BASE_ERROR: f64 = 0.01;
const MEDIAN_MS: f64 = 120.0;
/// ln(400 / 120) / z_0.99: the p99 at 400 ms.
const SIGMA: f64 = 0.517_579;
const MW_WINDOW: usize = 40;
const MW_MIN_POINTS: usize = 40;

/// splitmix64 with Poisson, normal and log-normal sampling.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }
    /// Knuth's method on chunks of mean ≤ 30 (a sum of Poissons is Poisson).
    fn poisson(&mut self, mean: f64) -> u64 {
        let mut left = mean;
        let mut k = 0;
        while left > 0.0 {
            let m = left.min(30.0);
            left -= m;
            let limit = (-m).exp();
            let mut p = self.uniform();
            while p > limit {
                k += 1;
                p *= self.uniform();
            }
        }
        k
    }
}

#[derive(Clone, Copy, Default)]
struct Step {
    requests: u64,
    errors: u64,
    latency_sum: f64,
}

fn simulate(rng: &mut Rng, share: f64, error_rate: f64, latency_factor: f64) -> Vec<Step> {
    let mean_requests = REQUESTS_PER_MIN * share * STEP_SECS / 60.0;
    (0..STEPS)
        .map(|_| {
            let requests = rng.poisson(mean_requests);
            let errors = rng.poisson(requests as f64 * error_rate);
            let latency_sum = (0..requests)
                .map(|_| rng.log_normal(MEDIAN_MS * latency_factor, SIGMA))
                .sum();
            Step {
                requests,
                errors,
                latency_sum,
            }
        })
        .collect()
}

fn point(s: &Step) -> f64 {
    if s.requests == 0 {
        f64::NAN
    } else {
        s.latency_sum / s.requests as f64
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Judge {
    ThresholdErrors,
    ThresholdLatency,
    MannWhitney1,
    MannWhitney3,
    Sequential,
}

const JUDGES: [(Judge, &str); 5] = [
    (Judge::ThresholdErrors, "threshold, error rate"),
    (Judge::ThresholdLatency, "threshold, mean latency"),
    (Judge::MannWhitney1, "mann-whitney, latency (limit 1)"),
    (Judge::MannWhitney3, "mann-whitney, latency (limit 3)"),
    (Judge::Sequential, "sequential, errors"),
];

/// The minute of the first breach of `judge` on one canary, if any.
fn first_breach(judge: Judge, canary: &[Step], baseline: &[Step]) -> Option<f64> {
    let mut failures = 0;
    let mut cum = (0u64, 0u64, 0u64, 0u64);
    for end in 1..=STEPS {
        let (c, b) = (&canary[end - 1], &baseline[end - 1]);
        cum.0 += c.errors;
        cum.1 += c.requests;
        cum.2 += b.errors;
        cum.3 += b.requests;
        if end % CHECK_EVERY != 0 {
            continue;
        }
        let minute = end as f64 * STEP_SECS / 60.0;
        let failed = match judge {
            Judge::ThresholdErrors | Judge::ThresholdLatency => {
                let from = end.saturating_sub(4);
                let sum = |s: &[Step]| {
                    s[from..end].iter().fold(Step::default(), |a, x| Step {
                        requests: a.requests + x.requests,
                        errors: a.errors + x.errors,
                        latency_sum: a.latency_sum + x.latency_sum,
                    })
                };
                let (c, b) = (sum(canary), sum(baseline));
                if c.requests == 0 || b.requests == 0 {
                    continue; // no data: neither fails nor resets
                }
                let value = |s: &Step| {
                    if judge == Judge::ThresholdErrors {
                        s.errors as f64 / s.requests as f64
                    } else {
                        s.latency_sum / s.requests as f64
                    }
                };
                value(&c) > value(&b) * 2.0
            }
            Judge::MannWhitney1 | Judge::MannWhitney3 => {
                let from = end.saturating_sub(MW_WINDOW);
                let cp: Vec<f64> = canary[from..end].iter().map(point).collect();
                let bp: Vec<f64> = baseline[from..end].iter().map(point).collect();
                let finite = |v: &[f64]| v.iter().filter(|x| x.is_finite()).count();
                if finite(&cp) < MW_MIN_POINTS || finite(&bp) < MW_MIN_POINTS {
                    continue; // insufficient
                }
                match mann_whitney(&cp, &bp, Direction::Increase) {
                    Ok(r) => r.p_value < 0.05 && r.effect.is_some_and(|e| e >= 0.1),
                    Err(_) => continue,
                }
            }
            Judge::Sequential => {
                let counts = SequentialCounts {
                    canary_errors: cum.0 as f64,
                    canary_requests: cum.1 as f64,
                    baseline_errors: cum.2 as f64,
                    baseline_requests: cum.3 as f64,
                };
                match sequential_with_prior(counts, 1.0, 0.01, prior()) {
                    Ok(s) => s.breached,
                    Err(_) => continue,
                }
            }
        };
        failures = if failed { failures + 1 } else { 0 };
        let limit = match judge {
            Judge::ThresholdErrors | Judge::ThresholdLatency | Judge::MannWhitney3 => 3,
            Judge::MannWhitney1 | Judge::Sequential => 1,
        };
        if failures >= limit {
            return Some(minute);
        }
    }
    None
}

/// The sequential judge's prior: Beta(1, 1) unless `JUDGES_PRIOR="a,b"` says otherwise.
fn prior() -> Prior {
    std::env::var("JUDGES_PRIOR")
        .ok()
        .and_then(|v| {
            let (a, b) = v.split_once(',')?;
            Some(Prior {
                a: a.trim().parse().ok()?,
                b: b.trim().parse().ok()?,
            })
        })
        .unwrap_or_default()
}

/// The standard normal quantile, by bisection on `normal_sf`.
fn z_upper(p: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0, 10.0);
    for _ in 0..200 {
        let mid: f64 = (lo + hi) / 2.0;
        if normal_sf(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// Minutes a fixed one-sided binomial test of the canary's share of errors needs.
fn error_limit_minutes(share: f64, factor: f64, alpha: f64, power: f64) -> f64 {
    let p0 = share / (share + (1.0 - share));
    let p1 = share * factor / (share * factor + (1.0 - share));
    let (za, zb) = (z_upper(alpha), z_upper(1.0 - power));
    let n = ((za * (p0 * (1.0 - p0)).sqrt() + zb * (p1 * (1.0 - p1)).sqrt()) / (p1 - p0)).powi(2);
    let errors_per_min = REQUESTS_PER_MIN * BASE_ERROR * (share * factor + (1.0 - share));
    n / errors_per_min
}

/// Minutes a fixed z-test on log point values needs to see a shift of ln(factor).
fn latency_limit_minutes(var_c: f64, var_b: f64, factor: f64, alpha: f64, power: f64) -> f64 {
    let (za, zb) = (z_upper(alpha), z_upper(1.0 - power));
    let points = ((za + zb) / factor.ln()).powi(2) * (var_c + var_b);
    points * STEP_SECS / 60.0
}

fn variance(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    Some(sorted[at])
}

fn fmt_min(m: Option<f64>) -> String {
    m.map_or("—".to_string(), |m| format!("{m:.1} min"))
}

fn main() {
    let runs: usize = std::env::var("JUDGES_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let shares: Vec<f64> = std::env::var("JUDGES_SHARES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![0.10, 0.01, 0.50]);
    println!(
        "judges: {runs} canaries per scenario, 1,000 req/min, baseline 1 % errors, latency median 120 ms p99 400 ms, checks every 30 s for 30 min"
    );
    for (si, &share) in shares.iter().enumerate() {
        let started = Instant::now();
        println!("\n## canary traffic {:.0} %\n", share * 100.0);
        println!("| scenario | judge | breached | median time | p90 time |");
        println!("|---|---|---|---|---|");
        let scenarios = [
            ("A/A", 1.0, 1.0),
            ("errors 2×", 2.0, 1.0),
            ("latency 1.5×", 1.0, 1.5),
        ];
        let mut log_points = (Vec::new(), Vec::new());
        for (ki, &(name, err_factor, lat_factor)) in scenarios.iter().enumerate() {
            let mut rng = Rng(0x5EED_0000 + (si as u64) * 16 + ki as u64);
            let mut times: Vec<Vec<f64>> = vec![Vec::new(); JUDGES.len()];
            for _ in 0..runs {
                let canary = simulate(&mut rng, share, BASE_ERROR * err_factor, lat_factor);
                let baseline = simulate(&mut rng, 1.0 - share, BASE_ERROR, 1.0);
                if ki == 0 {
                    log_points.0.extend(
                        canary
                            .iter()
                            .map(point)
                            .filter(|x| x.is_finite())
                            .map(f64::ln),
                    );
                    log_points.1.extend(
                        baseline
                            .iter()
                            .map(point)
                            .filter(|x| x.is_finite())
                            .map(f64::ln),
                    );
                }
                for (j, &(judge, _)) in JUDGES.iter().enumerate() {
                    if let Some(t) = first_breach(judge, &canary, &baseline) {
                        times[j].push(t);
                    }
                }
            }
            for (j, &(_, label)) in JUDGES.iter().enumerate() {
                let t = &mut times[j];
                t.sort_by(f64::total_cmp);
                println!(
                    "| {name} | {label} | {:.1} % | {} | {} |",
                    t.len() as f64 * 100.0 / runs as f64,
                    fmt_min(quantile(t, 0.5)),
                    fmt_min(quantile(t, 0.9)),
                );
            }
        }
        let (vc, vb) = (variance(&log_points.0), variance(&log_points.1));
        println!(
            "\ninformation limit (one fixed-length test at the same alpha): errors 2× at alpha 0.01: {:.1} min for 50 % power, {:.1} min for 90 %; latency 1.5× at alpha 0.05 (points' log sd canary {:.3}, baseline {:.3}): {:.2} min for 50 %, {:.2} min for 90 %",
            error_limit_minutes(share, 2.0, 0.01, 0.5),
            error_limit_minutes(share, 2.0, 0.01, 0.9),
            vc.sqrt(),
            vb.sqrt(),
            latency_limit_minutes(vc, vb, 1.5, 0.05, 0.5),
            latency_limit_minutes(vc, vb, 1.5, 0.05, 0.9),
        );
        println!("({:.1} s)", started.elapsed().as_secs_f64());
    }
}
