//! A deploy state read back from its name (`"rolled_back"`): the store's rows and API filters.

use super::State;
use std::str::FromStr;

impl State {
    /// Every state, in the order a deploy may pass through them.
    pub const ALL: [State; 8] = [
        State::Canary,
        State::Breached,
        State::RollingBack,
        State::RolledBack,
        State::RollbackVerified,
        State::RollbackFailed,
        State::Promoted,
        State::Failed,
    ];
}

impl FromStr for State {
    type Err = String;

    /// The error names the states there are.
    fn from_str(s: &str) -> Result<State, String> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
                format!("`{s}` is not a deploy state ({})", known.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_name() {
        for state in State::ALL {
            assert_eq!(state.as_str().parse::<State>(), Ok(state));
        }
        assert_eq!(
            "rolledback".parse::<State>(),
            Err("`rolledback` is not a deploy state (canary, breached, rolling_back, rolled_back, rollback_verified, rollback_failed, promoted, failed)".to_string())
        );
    }
}
