//! The statistics behind the judges of issue 18, pure and synchronous: numbers in, facts out.
//!
//! - [`mann_whitney`]: canary and baseline as two samples over a window (Kayenta's test), exact
//!   for small samples without ties and tie- and continuity-corrected normal otherwise.
//! - [`sequential`]: an anytime-valid test (mixture SPRT) that the canary's error rate exceeds the
//!   baseline's by more than a ratio, on cumulative counts, safe to check every interval.
//! - [`special`]: `ln_gamma`, `ln_beta`, `erfc`, the normal tail and the regularized incomplete
//!   beta in log space, written here (no crate) and tested against SciPy's values.
//!
//! The words people read about these results are `crate::present`'s.

pub mod mann_whitney;
pub mod sequential;
pub mod special;

pub use mann_whitney::{Direction, MannWhitney, MannWhitneyError, mann_whitney};
pub use sequential::{Sequential, SequentialCounts, SequentialError, sequential};
