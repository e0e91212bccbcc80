//! ServeGen client data (alibaba/ServeGen, `data/<category>/<model>/`): per-client arrival
//! windows and length distributions of Bailian's API traffic, read into a tracesynth
//! model with per-client arrivals ([`crate::model::clients`]).
//!
//! A model directory holds, per client N, `chunk-N-trace.csv` (one row per 600 s window:
//! `window_start_s, rate, cv, pattern, shape, scale`) and, for some clients,
//! `chunk-N-dataset.json` (per 6 h window, empirical PMFs of token counts stored as
//! Python dict literals).

mod dataset;
mod import;
mod pydict;
mod trace_csv;

use std::path::{Path, PathBuf};

pub use dataset::{Dataset, Fields};
pub use import::{ImportOptions, Imported, import_dir};
pub use trace_csv::{Pattern, TraceRow};

use crate::error::Location;
use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum ServegenError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir}: not a ServeGen model directory: no chunk-<client>-trace.csv files")]
    NoTraces { dir: String },
    /// A row of a trace CSV; `field` names the column when one is at fault.
    #[error("{at}: {}{message}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
    Csv {
        at: Location,
        field: Option<String>,
        message: String,
    },
    #[error("{path}: not JSON: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// A dataset entry: `window` is the window's key, `field` the PMF's name when one is
    /// at fault.
    #[error("{path}: window `{window}`: {}{message}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
    Dataset {
        path: String,
        window: String,
        field: Option<String>,
        message: String,
    },
    /// Files that are fine alone but do not fit together.
    #[error("{path}: {message}")]
    Inconsistent { path: String, message: String },
    /// The assembled model failed validation (a bug, or data beyond what a model holds).
    #[error("the imported model is invalid: {0}")]
    Model(#[from] ModelError),
}

/// One client's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFiles {
    /// The N of `chunk-N-*`.
    pub id: String,
    pub trace: PathBuf,
    pub dataset: Option<PathBuf>,
}

/// The clients of a model directory, ordered by id (numerically where ids are numbers).
pub fn scan_dir(dir: &Path) -> Result<Vec<ClientFiles>, ServegenError> {
    let shown = dir.display().to_string();
    let io = |source| ServegenError::Io {
        path: shown.clone(),
        source,
    };
    let mut traces = Vec::new();
    let mut datasets = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("chunk-") else {
            continue;
        };
        if let Some(id) = rest.strip_suffix("-trace.csv") {
            traces.push((id.to_string(), entry.path()));
        } else if let Some(id) = rest.strip_suffix("-dataset.json") {
            datasets.push((id.to_string(), entry.path()));
        }
    }
    if traces.is_empty() {
        return Err(ServegenError::NoTraces { dir: shown });
    }
    let mut clients: Vec<ClientFiles> = traces
        .into_iter()
        .map(|(id, trace)| ClientFiles {
            id,
            trace,
            dataset: None,
        })
        .collect();
    clients.sort_by(|a, b| id_order(&a.id, &b.id));
    for (id, path) in datasets {
        match clients.binary_search_by(|c| id_order(&c.id, &id)) {
            Ok(i) => clients[i].dataset = Some(path),
            Err(_) => {
                // ServeGen's own loader refuses this too: a dataset without arrivals
                // cannot be placed in time.
                return Err(ServegenError::Inconsistent {
                    path: path.display().to_string(),
                    message: format!("no chunk-{id}-trace.csv beside it"),
                });
            }
        }
    }
    Ok(clients)
}

/// Numeric ids in numeric order, before any others in text order.
fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y).then(a.cmp(b)),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_numerically() {
        let mut ids = vec!["10", "2", "x", "1"];
        ids.sort_by(|a, b| id_order(a, b));
        assert_eq!(ids, ["1", "2", "10", "x"]);
    }

    #[test]
    fn scans_clients_and_pairs_datasets() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "chunk-10-trace.csv",
            "chunk-2-trace.csv",
            "chunk-2-dataset.json",
            "README.md",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let clients = scan_dir(dir.path()).unwrap();
        assert_eq!(clients.len(), 2);
        assert_eq!(clients[0].id, "2");
        assert!(clients[0].dataset.is_some());
        assert!(clients[1].dataset.is_none());
        std::fs::write(dir.path().join("chunk-7-dataset.json"), "").unwrap();
        let err = scan_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("chunk-7-dataset.json") && err.contains("chunk-7-trace.csv"));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            scan_dir(empty.path()),
            Err(ServegenError::NoTraces { .. })
        ));
        assert!(matches!(
            scan_dir(&empty.path().join("missing")),
            Err(ServegenError::Io { .. })
        ));
    }
}
