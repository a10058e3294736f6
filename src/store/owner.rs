//! Who holds an outbox row while its try runs: this process, named by host, pid namespace, pid
//! and start time, so that a successor can tell whether the holder still runs.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A process that may hold outbox rows, and which of its stores: `host/pidns/pid/started/store`
/// as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    /// The pid namespace (`/proc/self/ns/pid`), `-` when unknown: two containers with one host
    /// name but their own pid namespaces must not judge each other's pids.
    pub pid_ns: String,
    pub pid: u32,
    pub started_ns: u128,
    /// Which store of the process (tests start several, one after another).
    pub store: u64,
}

impl Owner {
    /// A new store of this process.
    pub fn new_store() -> Owner {
        static STORES: AtomicU64 = AtomicU64::new(1);
        Owner {
            store: STORES.fetch_add(1, Ordering::SeqCst),
            ..Owner::me().clone()
        }
    }

    /// This process.
    pub fn me() -> &'static Owner {
        static ME: OnceLock<Owner> = OnceLock::new();
        ME.get_or_init(|| Owner {
            host: host_name(),
            pid_ns: std::fs::read_link("/proc/self/ns/pid")
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
                .and_then(|p| {
                    p.strip_prefix("pid:[")
                        .and_then(|r| r.strip_suffix(']'))
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "-".into()),
            pid: std::process::id(),
            started_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
            store: 0,
        })
    }

    pub fn text(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}",
            self.host, self.pid_ns, self.pid, self.started_ns, self.store
        )
    }

    /// Reads a stored holder; `None` when it is not one this code wrote.
    pub fn parse(text: &str) -> Option<Owner> {
        let mut parts = text.rsplitn(5, '/');
        let store = parts.next()?.parse().ok()?;
        let started_ns = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        let pid_ns = parts.next()?.to_string();
        let host = parts.next()?.to_string();
        Some(Owner {
            host,
            pid_ns,
            pid,
            started_ns,
            store,
        })
    }

    /// Whether `holder` is a process known to be gone, judged from this process: one of this
    /// host (and pid namespace) whose pid no longer runs, or ran before this process took that
    /// pid. Anything else (another host, an unreadable holder, this process) may still run:
    /// only its lease running out frees its rows.
    pub fn is_gone(&self, holder: &str) -> bool {
        let Some(other) = Owner::parse(holder) else {
            return false;
        };
        if other.host != self.host || other.pid_ns != self.pid_ns || self.pid_ns == "-" {
            return false;
        }
        if other.pid == self.pid {
            // An earlier process that had this pid (a container restarted as pid 1).
            return other.started_ns < self.started_ns;
        }
        !std::path::Path::new(&format!("/proc/{}", other.pid)).exists()
    }
}

/// The host name, as replicas on one host share it (`HOSTNAME`, else `/etc/hostname`).
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().replace('/', "_"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "canarybot".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone(host: &str, pid: u32) -> Owner {
        Owner {
            host: host.into(),
            pid,
            ..Owner::me().clone()
        }
    }

    #[test]
    fn holders_read_back() {
        let me = Owner::me();
        assert_eq!(Owner::parse(&me.text()).as_ref(), Some(me));
        assert_eq!(Owner::parse("not a holder"), None);
        assert_eq!(Owner::parse("a/b/c/d/e"), None);
        let store = Owner::new_store();
        assert_ne!(store.text(), me.text());
        assert_eq!(Owner::parse(&store.text()), Some(store));
    }

    #[test]
    fn a_gone_process_of_this_host_is_gone_and_nothing_else_is() {
        let me = Owner::me();
        if me.pid_ns == "-" {
            return; // no /proc here: nothing can be judged, and nothing is
        }
        // A pid that cannot run: above the kernel's pid limit.
        assert!(me.is_gone(&someone(&me.host, 4_194_305).text()));
        // This process (any of its stores), and a running one (pid 1 is always there).
        assert!(!me.is_gone(&me.text()));
        assert!(!me.is_gone(&Owner::new_store().text()));
        assert!(!me.is_gone(&someone(&me.host, 1).text()));
        // The same pid started earlier: a predecessor that had this pid.
        let before = Owner {
            started_ns: me.started_ns - 1,
            ..me.clone()
        };
        assert!(me.is_gone(&before.text()));
        // Another host, or another pid namespace: only the lease tells.
        assert!(!me.is_gone(&someone("elsewhere", 4_194_305).text()));
        let other_ns = Owner {
            pid_ns: "1".into(),
            ..someone(&me.host, 4_194_305)
        };
        assert!(!me.is_gone(&other_ns.text()));
        assert!(!me.is_gone("garbage"));
    }
}
