//! Signed Slack requests: slash commands, button presses, and mentions in canary threads.
