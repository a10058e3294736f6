//! Prometheus instant queries (`/api/v1/query`) for a criterion's two tracks, and range queries
//! (`/api/v1/query_range`) for the judges that compare them over a window.

use crate::config::PrometheusConfig;
use std::time::Duration;

// The scheduler fills queries with these.
pub use crate::promql::{Vars, render};

pub struct Prometheus {
    http: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
}

/// What one query gave: a value, or no data with the reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Value(f64),
    NoData(String),
}

/// The `data` of a successful answer; an error answer's type and message.
fn data(body: &serde_json::Value) -> Result<&serde_json::Value, String> {
    if body["status"] != "success" {
        return Err(format!(
            "Prometheus error {}: {}",
            body["errorType"].as_str().unwrap_or("?"),
            body["error"].as_str().unwrap_or("no message")
        ));
    }
    Ok(&body["data"])
}

/// Reads one value out of a `/api/v1/query` answer.
pub fn reading(body: &serde_json::Value) -> Result<Reading, String> {
    let data = data(body)?;
    let value = match data["resultType"].as_str() {
        Some("vector") => {
            let result = data["result"].as_array().cloned().unwrap_or_default();
            match result.len() {
                0 => return Ok(Reading::NoData("empty result".into())),
                1 => result[0]["value"][1].clone(),
                n => return Ok(Reading::NoData(format!("{n} series where one is expected"))),
            }
        }
        Some("scalar") => data["result"][1].clone(),
        other => {
            return Ok(Reading::NoData(format!(
                "result type {} is not a single value",
                other.unwrap_or("?")
            )));
        }
    };
    let text = value.as_str().unwrap_or_default();
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Reading::Value(v)),
        Ok(_) => Ok(Reading::NoData(format!("value is {text}"))),
        Err(_) => Ok(Reading::NoData(format!("value `{text}` is not a number"))),
    }
}

/// What one range query gave: the series' values in time order (`NaN` kept, for the judge to
/// count as dropped), or no data with the reason.
#[derive(Debug, Clone, PartialEq)]
pub enum RangeReading {
    Points(Vec<f64>),
    NoData(String),
}

/// Reads one series out of a `/api/v1/query_range` answer.
pub fn range_reading(body: &serde_json::Value) -> Result<RangeReading, String> {
    let data = data(body)?;
    if data["resultType"].as_str() != Some("matrix") {
        return Ok(RangeReading::NoData(format!(
            "result type {} is not a range of values",
            data["resultType"].as_str().unwrap_or("?")
        )));
    }
    let result = data["result"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let series = match result {
        [] => return Ok(RangeReading::NoData("empty result".into())),
        [one] => one,
        more => {
            return Ok(RangeReading::NoData(format!(
                "{} series where one is expected",
                more.len()
            )));
        }
    };
    let values = series["values"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let points = values
        .iter()
        .map(|pair| {
            pair[1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        })
        .collect();
    Ok(RangeReading::Points(points))
}

impl Prometheus {
    pub fn new(config: &PrometheusConfig) -> anyhow::Result<Prometheus> {
        Ok(Prometheus {
            http: reqwest::Client::builder()
                .timeout(config.timeout)
                .connect_timeout(Duration::from_secs(3))
                .build()?,
            url: config.url.trim_end_matches('/').to_string(),
            headers: config
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// An instant query at `at_s` (unix seconds). `Err` is the source failing, not missing data.
    pub async fn query(&self, promql: &str, at_s: f64) -> Result<Reading, String> {
        let body = self
            .get(
                "query",
                &[
                    ("query", promql.to_string()),
                    ("time", format!("{at_s:.3}")),
                ],
            )
            .await?;
        reading(&body)
    }

    /// A range query from `start_s` to `end_s` every `step_s` (unix seconds).
    pub async fn query_range(
        &self,
        promql: &str,
        start_s: f64,
        end_s: f64,
        step_s: f64,
    ) -> Result<RangeReading, String> {
        let body = self
            .get(
                "query_range",
                &[
                    ("query", promql.to_string()),
                    ("start", format!("{start_s:.3}")),
                    ("end", format!("{end_s:.3}")),
                    ("step", format!("{step_s:.3}")),
                ],
            )
            .await?;
        range_reading(&body)
    }

    async fn get(&self, api: &str, params: &[(&str, String)]) -> Result<serde_json::Value, String> {
        let mut req = self
            .http
            .get(format!("{}/api/v1/{api}", self.url))
            .query(params);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|e| {
            format!(
                "cannot reach Prometheus at {}: {}",
                crate::redact::url(&self.url),
                e.without_url()
            )
        })?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| {
            format!(
                "Prometheus answered HTTP {status} without JSON: {}",
                e.without_url()
            )
        })?;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readings() {
        let one = json!({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.0,"0.25"]}]}});
        assert_eq!(reading(&one), Ok(Reading::Value(0.25)));
        let none = json!({"status":"success","data":{"resultType":"vector","result":[]}});
        assert_eq!(reading(&none), Ok(Reading::NoData("empty result".into())));
        let two = json!({"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]},{"value":[1,"2"]}]}});
        assert_eq!(
            reading(&two),
            Ok(Reading::NoData("2 series where one is expected".into()))
        );
        let nan = json!({"status":"success","data":{"resultType":"vector","result":[{"value":[1,"NaN"]}]}});
        assert_eq!(reading(&nan), Ok(Reading::NoData("value is NaN".into())));
        let scalar = json!({"status":"success","data":{"resultType":"scalar","result":[1,"3"]}});
        assert_eq!(reading(&scalar), Ok(Reading::Value(3.0)));
        let err = json!({"status":"error","errorType":"bad_data","error":"parse error"});
        assert!(reading(&err).unwrap_err().contains("bad_data: parse error"));
    }

    #[test]
    fn range_readings() {
        let one = json!({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"0.25"],[2,"NaN"],[3,"0.5"]]}]}});
        let Ok(RangeReading::Points(p)) = range_reading(&one) else {
            panic!("{:?}", range_reading(&one));
        };
        assert_eq!(p.len(), 3);
        assert_eq!((p[0], p[2]), (0.25, 0.5));
        assert!(
            p[1].is_nan(),
            "NaN is kept for the judge to count as dropped"
        );
        let none = json!({"status":"success","data":{"resultType":"matrix","result":[]}});
        assert_eq!(
            range_reading(&none),
            Ok(RangeReading::NoData("empty result".into()))
        );
        let two = json!({"status":"success","data":{"resultType":"matrix","result":[{"values":[]},{"values":[]}]}});
        assert_eq!(
            range_reading(&two),
            Ok(RangeReading::NoData(
                "2 series where one is expected".into()
            ))
        );
        let vector = json!({"status":"success","data":{"resultType":"vector","result":[]}});
        assert!(
            matches!(range_reading(&vector), Ok(RangeReading::NoData(r)) if r.contains("vector"))
        );
        let err = json!({"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries"});
        assert!(range_reading(&err).unwrap_err().contains("11,000 points"));
    }
}
