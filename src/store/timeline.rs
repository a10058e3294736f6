//! A deploy's timeline: its events (appended with their effects and samples in one
//! transaction) and its stored samples.

use super::*;

/// The inbound delivery (webhook, metric push, interaction) an append acts on, stored in the same
/// transaction so that a redelivery after a crash cannot act twice.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryKey<'a> {
    pub source: &'a str,
    pub id: &'a str,
}

/// Everything one input writes, in one transaction.
pub struct Append<'a> {
    pub deploy_id: &'a str,
    /// Set when this append creates the deploy.
    pub new_deploy: Option<&'a DeployInfo>,
    /// The last seq the caller saw; the append fails with `Conflict` if it moved.
    pub expected_last_seq: i64,
    pub events: &'a [Event],
    pub state: State,
    pub outbox: &'a [NewOutbox],
    pub samples: &'a [Sample],
    pub samples_at_ms: i64,
    pub now_ms: i64,
    /// Set when the append answers an inbound delivery; fails with `Duplicate` if it was seen.
    pub delivery: Option<DeliveryKey<'a>>,
}

impl Store {
    /// The deploy's whole timeline, or `None` if there is no such deploy.
    pub async fn events(&self, deploy_id: &str) -> Result<Option<Vec<Event>>, StoreError> {
        let events = self.events_after(deploy_id, 0).await?;
        Ok((!events.is_empty()).then_some(events))
    }

    /// The deploy's events after `seq`, in order (none when there are none, or no such deploy).
    ///
    /// The database writes the rows out as one JSON array, each event's data in the shape
    /// `EventData::from_parts` reads (`{"kind": kind, "details": …}`, the stored text as it is):
    /// a timeline of 10,000 events then costs one row through the driver instead of 10,000, and
    /// one parse.
    pub async fn events_after(&self, deploy_id: &str, seq: i64) -> Result<Vec<Event>, StoreError> {
        let sql = match self.backend {
            // No ORDER BY in the aggregate: sorting megabytes of text in SQLite costs more than
            // sorting the (already ordered) events here.
            Backend::Sqlite => {
                "SELECT COALESCE('[' || group_concat('[' || seq || ',' || at_ms || ',' || json_quote(actor) || ','
                   || json_quote(source) || ',' || json_quote(summary) || ',{\"kind\":'
                   || json_quote(kind) || ',\"details\":' || details || '}]', ',') || ']', '[]') AS timeline
                 FROM events WHERE deploy_id = $1 AND seq > $2"
            }
            Backend::Postgres => {
                "SELECT COALESCE('[' || string_agg('[' || seq || ',' || at_ms || ',' || to_json(actor)::text || ','
                   || to_json(source)::text || ',' || to_json(summary)::text || ',{\"kind\":'
                   || to_json(kind)::text || ',\"details\":' || details || '}]', ',' ORDER BY seq) || ']', '[]') AS timeline
                 FROM events WHERE deploy_id = $1 AND seq > $2"
            }
        };
        let row = sqlx::query(sql)
            .bind(deploy_id)
            .bind(seq)
            .fetch_one(&self.pool)
            .await?;
        let text: String = row.try_get("timeline")?;
        let rows: Vec<(i64, i64, String, String, String, EventData)> = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("{deploy_id}: {e}")))?;
        let mut events: Vec<Event> = rows
            .into_iter()
            .map(|(seq, at_ms, actor, source, summary, data)| Event {
                seq,
                at_ms,
                actor,
                source,
                summary,
                data,
            })
            .collect();
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    /// Appends events and their effects atomically. Fails with `Conflict` when another writer
    /// appended first (or created the same deploy).
    pub async fn append(&self, a: Append<'_>) -> Result<(), StoreError> {
        if let Some(writer) = &self.writer {
            return writer.append(group::OwnedAppend::from(&a)).await;
        }
        let mut tx = self.pool.begin().await?;
        write_append(&mut *tx, &a).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stored samples of one deploy, oldest first: `(criterion, at_ms, canary, baseline)`.
    /// Read as one JSON array built by the database, as `events_after` does.
    pub async fn samples(
        &self,
        deploy_id: &str,
    ) -> Result<Vec<(String, i64, Option<f64>, Option<f64>)>, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COALESCE('[' || group_concat('[' || id || ',' || json_quote(criterion) || ',' || at_ms || ','
                   || COALESCE(json_quote(canary), 'null') || ',' || COALESCE(json_quote(baseline), 'null') || ']', ',')
                   || ']', '[]') AS samples
                 FROM samples WHERE deploy_id = $1"
            }
            // Only finite values are stored; anything else would not be JSON, so it reads as no value.
            Backend::Postgres => {
                "SELECT COALESCE('[' || string_agg('[' || id || ',' || to_json(criterion)::text || ',' || at_ms || ','
                   || CASE WHEN canary IS NULL OR canary IN ('NaN', 'Infinity', '-Infinity') THEN 'null' ELSE canary::text END || ','
                   || CASE WHEN baseline IS NULL OR baseline IN ('NaN', 'Infinity', '-Infinity') THEN 'null' ELSE baseline::text END
                   || ']', ',') || ']', '[]') AS samples
                 FROM samples WHERE deploy_id = $1"
            }
        };
        let row = sqlx::query(sql)
            .bind(deploy_id)
            .fetch_one(&self.pool)
            .await?;
        let text: String = row.try_get("samples")?;
        type Stored = (i64, String, i64, Option<f64>, Option<f64>);
        let mut rows: Vec<Stored> = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("{deploy_id} samples: {e}")))?;
        rows.sort_by_key(|r| r.0);
        Ok(rows
            .into_iter()
            .map(|(_, criterion, at_ms, canary, baseline)| (criterion, at_ms, canary, baseline))
            .collect())
    }
}

/// The writes of one append, inside the caller's transaction. An append refused by its own
/// checks (a duplicate delivery, a concurrent update) leaves nothing behind, so a group needs no
/// savepoint for those; any other error leaves the transaction to be rolled back (or rolled back
/// to a savepoint) by the caller.
pub(super) async fn write_append<E: Exec>(conn: &mut E, a: &Append<'_>) -> Result<(), StoreError> {
    let id = || Arg::Text(a.deploy_id.to_string());
    if let Some(d) = a.delivery {
        // Status 0: acted on, answer not recorded yet (the handler records it after commit).
        let fresh = conn
            .exec(
                "INSERT INTO deliveries (source, delivery_id, status, response, at_ms) VALUES ($1, $2, 0, '', $3)
                 ON CONFLICT (source, delivery_id) DO NOTHING",
                &[
                    Arg::Text(d.source.to_string()),
                    Arg::Text(d.id.to_string()),
                    Arg::Int(a.now_ms),
                ],
            )
            .await?;
        if fresh != 1 {
            return Err(StoreError::Duplicate(format!("{}:{}", d.source, d.id)));
        }
    }
    let last_seq = a
        .events
        .last()
        .map(|e| e.seq)
        .unwrap_or(a.expected_last_seq);
    let moved = match a.new_deploy {
        Some(info) => {
            conn.exec(
                "INSERT INTO deploys (id, service, environment, version, state, last_seq, created_at_ms, updated_at_ms, drill, sha)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
                &[
                    Arg::Text(info.id.clone()),
                    Arg::Text(info.service.clone()),
                    Arg::Text(info.environment.clone()),
                    Arg::Text(info.version.clone()),
                    Arg::Text(a.state.as_str().to_string()),
                    Arg::Int(last_seq),
                    Arg::Int(a.now_ms),
                    Arg::Int(i64::from(info.is_drill())),
                    Arg::MaybeText(info.sha.clone()),
                ],
            )
            .await?
        }
        None => {
            conn.exec(
                "UPDATE deploys SET last_seq = $1, state = $2, updated_at_ms = COALESCE($3, updated_at_ms) WHERE id = $4 AND last_seq = $5",
                &[
                    Arg::Int(last_seq),
                    Arg::Text(a.state.as_str().to_string()),
                    // updated_at is the time of the last timeline event, as the timeline shows it.
                    Arg::MaybeInt(a.events.last().map(|e| e.at_ms)),
                    id(),
                    Arg::Int(a.expected_last_seq),
                ],
            )
            .await?
        }
    };
    if moved != 1 {
        if let Some(d) = a.delivery {
            // Take back the delivery row written above: the caller retries with it.
            conn.exec(
                "DELETE FROM deliveries WHERE source = $1 AND delivery_id = $2",
                &[Arg::Text(d.source.to_string()), Arg::Text(d.id.to_string())],
            )
            .await?;
        }
        return Err(StoreError::Conflict(a.deploy_id.to_string()));
    }
    // The watch after promotion: open from `watch_started` until `watch_ended`.
    let watch = a.events.iter().rev().find_map(|e| match &e.data {
        EventData::WatchStarted { until_ms, .. } => Some(Some(*until_ms)),
        EventData::WatchEnded { .. } => Some(None),
        _ => None,
    });
    if let Some(until) = watch {
        conn.exec(
            "UPDATE deploys SET watch_until_ms = $1 WHERE id = $2",
            &[Arg::MaybeInt(until), id()],
        )
        .await?;
    }
    // One statement for all of the append's events, samples or outbox rows (in chunks: SQLite
    // takes at most 32,766 values in one statement).
    for chunk in a.events.chunks(500) {
        let mut args = vec![id()];
        for e in chunk {
            args.extend([
                Arg::Int(e.seq),
                Arg::Int(e.at_ms),
                Arg::Text(e.data.kind().to_string()),
                Arg::Text(e.actor.clone()),
                Arg::Text(e.source.clone()),
                Arg::Text(e.summary.clone()),
                Arg::Text(e.data.details_json()),
            ]);
        }
        let sql = values(
            "INSERT INTO events (deploy_id, seq, at_ms, kind, actor, source, summary, details) VALUES ",
            chunk.len(),
            |n| {
                format!(
                    "($1, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    n * 7 + 2,
                    n * 7 + 3,
                    n * 7 + 4,
                    n * 7 + 5,
                    n * 7 + 6,
                    n * 7 + 7,
                    n * 7 + 8
                )
            },
        );
        conn.exec(&sql, &args).await?;
    }
    for e in a.events {
        if let EventData::VoteCast {
            voter,
            choice,
            reason,
            ..
        } = &e.data
        {
            conn.exec(
                "INSERT INTO votes (deploy_id, seq, voter, choice, reason, at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    id(),
                    Arg::Int(e.seq),
                    Arg::Text(voter.clone()),
                    Arg::Text(choice.as_str().to_string()),
                    Arg::MaybeText(reason.clone()),
                    Arg::Int(e.at_ms),
                ],
            )
            .await?;
        }
    }
    for chunk in a.samples.chunks(500) {
        let mut args = vec![id(), Arg::Int(a.samples_at_ms)];
        for s in chunk {
            args.extend([
                Arg::Text(s.criterion.clone()),
                Arg::MaybeReal(s.canary),
                Arg::MaybeReal(s.baseline),
            ]);
        }
        let sql = values(
            "INSERT INTO samples (deploy_id, criterion, at_ms, canary, baseline) VALUES ",
            chunk.len(),
            |n| {
                format!(
                    "($1, ${}, $2, NULLIF(${}, 'NaN'), NULLIF(${}, 'NaN'))",
                    n * 3 + 3,
                    n * 3 + 4,
                    n * 3 + 5
                )
            },
        );
        conn.exec(&sql, &args).await?;
    }
    for chunk in a.outbox.chunks(500) {
        let mut args = vec![id(), Arg::Int(a.now_ms)];
        for o in chunk {
            args.extend([Arg::Text(o.target.clone()), Arg::Text(o.payload.clone())]);
        }
        let sql = values(
            "INSERT INTO outbox (deploy_id, target, payload, created_at_ms, next_at_ms) VALUES ",
            chunk.len(),
            |n| format!("($1, ${}, ${}, $2, $2)", n * 2 + 3, n * 2 + 4),
        );
        conn.exec(&sql, &args).await?;
    }
    Ok(())
}

/// `head` followed by `rows` tuples of placeholders, the n-th made by `row(n)`.
fn values(head: &str, rows: usize, row: impl Fn(usize) -> String) -> String {
    let mut sql = String::from(head);
    for n in 0..rows {
        if n > 0 {
            sql.push(',');
        }
        sql.push_str(&row(n));
    }
    sql
}
