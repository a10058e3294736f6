//! Where the store's writes run: a statement with numbered parameters (`$1`, `$2`…) and its
//! values, executed through sqlx (PostgreSQL) or straight through SQLite's library on the writer's
//! own thread (`group`), so that both backends share one text of every write.

use super::StoreError;

/// A value bound to a write.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
    MaybeInt(Option<i64>),
    /// A measured value or none; the statement must read it as `NULLIF($n, 'NaN')`.
    MaybeReal(Option<f64>),
    MaybeText(Option<String>),
}

/// Runs one write; returns the rows it changed.
pub(crate) trait Exec {
    async fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<u64, StoreError>;
}

impl Exec for sqlx::AnyConnection {
    async fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        // Safe: every statement is made of constant text and numbered placeholders; every value
        // is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for arg in args {
            query = match arg {
                Arg::Int(v) => query.bind(*v),
                Arg::Text(v) => query.bind(v.clone()),
                Arg::MaybeInt(v) => query.bind(*v),
                // sqlx 0.9's `Any` sends a missing f64 as a *float4* NULL (its Real and Double
                // nulls are swapped); PostgreSQL then types the cached statement's parameter as
                // float4 and refuses the next real f64 ("incorrect binary data format"). So a
                // missing value travels as NaN, which every statement taking a `MaybeReal` turns
                // back into NULL with `NULLIF($n, 'NaN')` (stored values are always finite).
                Arg::MaybeReal(v) => query.bind(v.unwrap_or(f64::NAN)),
                Arg::MaybeText(v) => query.bind(v.clone()),
            };
        }
        Ok(query.execute(self).await?.rows_affected())
    }
}

/// A SQLite connection of the writer's thread. Its calls never wait on anything but the disk, so
/// the `async` is only there to share the code of each write with PostgreSQL.
pub(crate) struct Lite<'a>(pub(crate) &'a rusqlite::Connection);

impl Exec for Lite<'_> {
    async fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        let lite = |e: rusqlite::Error| StoreError::Lite(e.to_string());
        let mut statement = self.0.prepare_cached(sql).map_err(lite)?;
        for index in 1..=statement.parameter_count() {
            // `$n` is the n-th value wherever it appears (SQLite numbers parameters by first
            // appearance).
            let n = statement
                .parameter_name(index)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(index);
            let Some(arg) = n.checked_sub(1).and_then(|i| args.get(i)) else {
                return Err(StoreError::Lite(format!("no value for ${n} in `{sql}`")));
            };
            match arg {
                Arg::Int(v) => statement.raw_bind_parameter(index, v),
                Arg::Text(v) => statement.raw_bind_parameter(index, v),
                Arg::MaybeInt(v) => statement.raw_bind_parameter(index, v),
                Arg::MaybeReal(v) => statement.raw_bind_parameter(index, v),
                Arg::MaybeText(v) => statement.raw_bind_parameter(index, v),
            }
            .map_err(lite)?;
        }
        let changed = statement.raw_execute().map_err(lite)?;
        Ok(changed as u64)
    }
}
