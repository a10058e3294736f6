//! Change freezes: set by a person (`/canary freeze`) or scheduled in the configuration (dates, or
//! a weekly window in a time zone), and the one question they answer — does a freeze cover this
//! service now?
//!
//! Weekly windows are wall-clock times in an IANA zone, so "Fri 16:00" is 16:00 in Berlin in winter
//! and in summer alike; a window that spans a daylight-saving change is an hour shorter or longer in
//! real time, as a person reading the clock on the wall expects.

use chrono::{DateTime, Datelike, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// What a freeze covers: one service, or every service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "service")]
pub enum FreezeScope {
    All,
    Service(String),
}

impl FreezeScope {
    pub fn covers(&self, service: &str) -> bool {
        match self {
            FreezeScope::All => true,
            FreezeScope::Service(s) => s == service,
        }
    }

    /// `checkout`, or `all` for every service.
    pub fn label(&self) -> &str {
        match self {
            FreezeScope::All => "all",
            FreezeScope::Service(s) => s,
        }
    }
}

/// A freeze a person set from chat or the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Freeze {
    pub id: String,
    pub scope: FreezeScope,
    /// Who froze: the identity (`slack:U01ALICE`) and the name shown.
    pub by: String,
    pub by_name: String,
    #[serde(default)]
    pub reason: Option<String>,
    pub at_ms: i64,
    /// When it lifts by itself (`for 2h`); `None`: until someone unfreezes.
    #[serde(default)]
    pub until_ms: Option<i64>,
}

impl Freeze {
    pub fn active(&self, now_ms: i64) -> bool {
        self.until_ms.is_none_or(|until| now_ms < until)
    }
}

/// A freeze written in the configuration: a period, a weekly window, or a weekly window within a
/// period.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledFreeze {
    /// Service names, `*` for every service.
    pub services: Vec<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub weekly: Option<WeeklyWindow>,
    pub reason: Option<String>,
}

impl ScheduledFreeze {
    pub fn covers(&self, service: &str, at: DateTime<Utc>) -> bool {
        let named = self.services.iter().any(|s| s == "*" || s == service);
        let in_period = self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to);
        let in_window = self.weekly.as_ref().is_none_or(|w| w.contains(at));
        named && in_period && in_window
    }

    /// `2026-12-24 00:00 UTC – 2026-12-27 00:00 UTC`, `Fri 16:00 - Mon 08:00 Europe/Berlin`.
    pub fn when(&self) -> String {
        let at = |d: &DateTime<Utc>| d.format("%Y-%m-%d %H:%M UTC").to_string();
        let period = match (&self.from, &self.to) {
            (Some(f), Some(t)) => Some(format!("{} – {}", at(f), at(t))),
            (Some(f), None) => Some(format!("from {}", at(f))),
            (None, Some(t)) => Some(format!("until {}", at(t))),
            (None, None) => None,
        };
        match (period, &self.weekly) {
            (Some(p), Some(w)) => format!("{w} within {p}"),
            (Some(p), None) => p,
            (None, Some(w)) => w.to_string(),
            (None, None) => "always".to_string(),
        }
    }
}

/// `Fri 16:00 - Mon 08:00` in a time zone: from the first to the second, wrapping over the week's
/// end when the second comes first.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklyWindow {
    pub from: (Weekday, NaiveTime),
    pub to: (Weekday, NaiveTime),
    pub timezone: Tz,
}

impl WeeklyWindow {
    /// Parses `Fri 16:00 - Mon 08:00` with an IANA zone name (`Europe/Berlin`, `UTC`).
    pub fn parse(text: &str, timezone: &str) -> Result<WeeklyWindow, String> {
        let timezone: Tz = timezone.parse().map_err(|_| {
            format!("`{timezone}` is not an IANA time zone (write e.g. Europe/Berlin or UTC)")
        })?;
        let (from, to) = text
            .split_once(" - ")
            .or_else(|| text.split_once('–'))
            .ok_or_else(|| {
                format!("`{text}` is not a weekly window: write e.g. \"Fri 16:00 - Mon 08:00\"")
            })?;
        let point = |part: &str| -> Result<(Weekday, NaiveTime), String> {
            let part = part.trim();
            let (day, time) = part.split_once(' ').ok_or_else(|| {
                format!("`{part}` is not a day and a time: write e.g. \"Fri 16:00\"")
            })?;
            let day: Weekday = day
                .trim()
                .parse()
                .map_err(|_| format!("`{day}` is not a day of the week (Mon, Tue, … Sun)"))?;
            let time = NaiveTime::parse_from_str(time.trim(), "%H:%M")
                .map_err(|_| format!("`{time}` is not a time of day (HH:MM, e.g. 16:00)"))?;
            Ok((day, time))
        };
        let (from, to) = (point(from)?, point(to)?);
        if from == to {
            return Err(format!("`{text}` starts and ends at the same time"));
        }
        Ok(WeeklyWindow { from, to, timezone })
    }

    /// Minutes since Monday 00:00 on the zone's wall clock.
    fn minute_of_week(day: Weekday, time: NaiveTime) -> u32 {
        day.num_days_from_monday() * 24 * 60 + time.hour() * 60 + time.minute()
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = self.timezone.from_utc_datetime(&at.naive_utc());
        let now = Self::minute_of_week(local.weekday(), local.time());
        let start = Self::minute_of_week(self.from.0, self.from.1);
        let end = Self::minute_of_week(self.to.0, self.to.1);
        if start < end {
            start <= now && now < end
        } else {
            now >= start || now < end
        }
    }
}

impl std::fmt::Display for WeeklyWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} - {} {} {}",
            self.from.0,
            self.from.1.format("%H:%M"),
            self.to.0,
            self.to.1.format("%H:%M"),
            self.timezone.name()
        )
    }
}

/// Why a service is frozen now: the first freeze that covers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreezeCause {
    /// `set` by a person, or `scheduled` in the configuration.
    pub kind: FreezeKind,
    /// What it covers: a service, or `all`.
    pub scope: String,
    /// Who froze (for a scheduled freeze: the configuration).
    pub by: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// When it lifts by itself, when known.
    #[serde(default)]
    pub until_ms: Option<i64>,
    /// A person's freeze's id (to unfreeze, to link).
    #[serde(default)]
    pub freeze_id: Option<String>,
    /// A scheduled freeze's window in words.
    #[serde(default)]
    pub when: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreezeKind {
    Set,
    Scheduled,
}

/// The freeze covering `service` at `now_ms`, if any: people's freezes first (newest first), then
/// the configuration's.
pub fn covering(
    service: &str,
    now_ms: i64,
    set: &[Freeze],
    scheduled: &[ScheduledFreeze],
) -> Option<FreezeCause> {
    let mut set: Vec<&Freeze> = set
        .iter()
        .filter(|f| f.active(now_ms) && f.scope.covers(service))
        .collect();
    set.sort_by_key(|f| std::cmp::Reverse(f.at_ms));
    if let Some(f) = set.first() {
        return Some(FreezeCause {
            kind: FreezeKind::Set,
            scope: f.scope.label().to_string(),
            by: f.by_name.clone(),
            reason: f.reason.clone(),
            until_ms: f.until_ms,
            freeze_id: Some(f.id.clone()),
            when: None,
        });
    }
    let at = Utc.timestamp_millis_opt(now_ms).single()?;
    scheduled
        .iter()
        .find(|s| s.covers(service, at))
        .map(|s| FreezeCause {
            kind: FreezeKind::Scheduled,
            scope: if s.services.iter().any(|x| x == "*") {
                "all".to_string()
            } else {
                s.services.join(", ")
            },
            by: "the configuration".to_string(),
            reason: s.reason.clone(),
            until_ms: s
                .to
                .map(|t| t.timestamp_millis())
                .filter(|_| s.weekly.is_none()),
            freeze_id: None,
            when: Some(s.when()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_weekly_window_is_wall_clock_time_in_its_zone_across_daylight_saving() {
        let w = WeeklyWindow::parse("Fri 16:00 - Mon 08:00", "Europe/Berlin").expect("window");
        // Winter (CET, UTC+1): Friday 16:00 in Berlin is 15:00 UTC.
        assert!(!w.contains(utc("2026-01-16T14:59:00Z")));
        assert!(w.contains(utc("2026-01-16T15:00:00Z")));
        assert!(w.contains(utc("2026-01-18T12:00:00Z")), "Sunday");
        assert!(w.contains(utc("2026-01-19T06:59:00Z")));
        assert!(!w.contains(utc("2026-01-19T07:00:00Z")), "Monday 08:00 CET");
        // Summer (CEST, UTC+2): the same wall-clock hours are an hour earlier in UTC.
        assert!(!w.contains(utc("2026-07-17T13:59:00Z")));
        assert!(w.contains(utc("2026-07-17T14:00:00Z")));
        assert!(
            !w.contains(utc("2026-07-20T06:00:00Z")),
            "Monday 08:00 CEST"
        );
        // The weekend of the spring change (Sunday 2026-03-29, 02:00 CET → 03:00 CEST): the window
        // opens at 16:00 CET and closes at 08:00 CEST — 39 hours of real time, not 40.
        assert!(w.contains(utc("2026-03-27T15:00:00Z")));
        assert!(w.contains(utc("2026-03-30T05:59:00Z")));
        assert!(!w.contains(utc("2026-03-30T06:00:00Z")));
        // The autumn change (Sunday 2026-10-25, 03:00 CEST → 02:00 CET): 41 hours.
        assert!(!w.contains(utc("2026-10-23T13:59:00Z")));
        assert!(w.contains(utc("2026-10-23T14:00:00Z")), "Friday 16:00 CEST");
        assert!(w.contains(utc("2026-10-26T06:59:00Z")));
        assert!(!w.contains(utc("2026-10-26T07:00:00Z")), "Monday 08:00 CET");
    }

    #[test]
    fn a_window_within_one_day_and_one_hour_that_does_not_exist() {
        // 02:30 on the spring-change Sunday never happens in Berlin: the window still closes.
        let w = WeeklyWindow::parse("Sun 01:00 - Sun 02:30", "Europe/Berlin").expect("window");
        assert!(w.contains(utc("2026-03-29T00:59:00Z")), "01:59 CET");
        assert!(!w.contains(utc("2026-03-29T01:00:00Z")), "03:00 CEST");
        assert!(!w.contains(utc("2026-03-28T23:59:00Z")), "00:59 CET");
    }

    #[test]
    fn bad_windows_say_what_is_wrong() {
        let e = |text: &str, tz: &str| WeeklyWindow::parse(text, tz).expect_err(text);
        assert!(e("Fri 16:00 - Mon 08:00", "Mars/Olympus").contains("not an IANA time zone"));
        assert!(e("Fri 16:00 to Mon 08:00", "UTC").contains("is not a weekly window"));
        assert!(e("Fry 16:00 - Mon 08:00", "UTC").contains("`Fry` is not a day of the week"));
        assert!(e("Fri 25:00 - Mon 08:00", "UTC").contains("`25:00` is not a time of day"));
        assert!(e("Fri 16:00 - Fri 16:00", "UTC").contains("starts and ends at the same time"));
        assert_eq!(
            WeeklyWindow::parse("Fri 16:00 - Mon 08:00", "Europe/Berlin")
                .expect("ok")
                .to_string(),
            "Fri 16:00 - Mon 08:00 Europe/Berlin"
        );
    }

    #[test]
    fn the_newest_freeze_a_person_set_covers_before_the_schedule() {
        let holidays = ScheduledFreeze {
            services: vec!["*".into()],
            from: Some(utc("2026-12-24T00:00:00Z")),
            to: Some(utc("2026-12-27T00:00:00Z")),
            weekly: None,
            reason: Some("holidays".into()),
        };
        let christmas = utc("2026-12-25T10:00:00Z").timestamp_millis();
        let cause =
            covering("checkout", christmas, &[], std::slice::from_ref(&holidays)).expect("frozen");
        assert_eq!(cause.kind, FreezeKind::Scheduled);
        assert_eq!(cause.scope, "all");
        assert_eq!(cause.reason.as_deref(), Some("holidays"));
        assert_eq!(
            cause.when.as_deref(),
            Some("2026-12-24 00:00 UTC – 2026-12-27 00:00 UTC")
        );
        assert_eq!(
            cause.until_ms,
            Some(utc("2026-12-27T00:00:00Z").timestamp_millis())
        );
        assert!(
            covering(
                "checkout",
                utc("2026-12-27T00:00:00Z").timestamp_millis(),
                &[],
                std::slice::from_ref(&holidays)
            )
            .is_none()
        );
        let set = |id: &str, scope: FreezeScope, at_ms: i64, until_ms: Option<i64>| Freeze {
            id: id.into(),
            scope,
            by: "slack:U01ALICE".into(),
            by_name: "alice".into(),
            reason: Some(format!("freeze {id}")),
            at_ms,
            until_ms,
        };
        let people = [
            set("f1", FreezeScope::All, christmas - 10, None),
            set(
                "f2",
                FreezeScope::Service("checkout".into()),
                christmas - 5,
                Some(christmas + 1),
            ),
            set(
                "f3",
                FreezeScope::Service("search".into()),
                christmas - 1,
                None,
            ),
        ];
        let cause = covering(
            "checkout",
            christmas,
            &people,
            std::slice::from_ref(&holidays),
        )
        .expect("frozen");
        assert_eq!(
            cause.freeze_id.as_deref(),
            Some("f2"),
            "the newest that covers checkout"
        );
        assert_eq!(cause.by, "alice");
        // f2 has lifted by itself: the older freeze of everything still holds.
        let later = covering("checkout", christmas + 1, &people, &[]).expect("frozen");
        assert_eq!(later.freeze_id.as_deref(), Some("f1"));
        assert!(covering("billing", christmas, &people[1..], &[]).is_none());
    }
}
