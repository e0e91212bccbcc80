//! The model file: a versioned, human-readable JSON document with one section per
//! component. Each component keeps its serde type, its fit and its sampler side by side
//! in its own file.

pub mod arrivals;
pub mod blocks;
pub mod clients;
pub mod copula;
pub mod grid_copula;
pub mod lengths;
pub mod most_used;
pub mod quantile;
pub mod schedule;
pub mod sessions;
pub mod stability;
pub mod summary;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fit::prepared::Lineage;
use crate::trace::Format;

/// The highest request rate a model may hold in any one place (a bin of its profile, a
/// client window), requests per second: far above any service, low enough that an absurd
/// value (1e30) is refused rather than planned.
pub const MAX_RATE: f64 = 1e6;
/// The largest factor a multiplier may apply (rate-profile steps, `--rate-scale`,
/// `--time-scale` and their inverses).
pub const MAX_SCALE: f64 = 1e3;

/// Bumped whenever a model file written by an older tracesynth would be misread.
pub const FORMAT_VERSION: u32 = 1;

/// The model compiled into the binary, used when `generate` is given no `--model`.
pub const DEFAULT_MODEL_JSON: &str = include_str!("../../models/qwen-trace-a.json");
/// Which shipped model the default is, for messages and the README.
pub const DEFAULT_MODEL_NAME: &str = "qwen-trace-a";

/// Every model of `models/`, compiled in, by name: `--model NAME` works from any
/// directory (1.6 MB of JSON in the binary).
pub const SHIPPED_MODELS: [(&str, &str); 4] = [
    (DEFAULT_MODEL_NAME, DEFAULT_MODEL_JSON),
    (
        "qwen-trace-b",
        include_str!("../../models/qwen-trace-b.json"),
    ),
    (
        "mooncake-conversation",
        include_str!("../../models/mooncake-conversation.json"),
    ),
    (
        "azure-conversation",
        include_str!("../../models/azure-conversation.json"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a tracesynth model: {source}")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "model format version {found} is not supported (this tracesynth reads version {FORMAT_VERSION})"
    )]
    Version { found: u32 },
    #[error("invalid model: {what}: {message}")]
    Invalid { what: String, message: String },
    /// Another error, in the named file.
    #[error("{path}: {source}")]
    In {
        path: String,
        #[source]
        source: Box<ModelError>,
    },
}

impl ModelError {
    pub fn invalid(what: &str, message: impl Into<String>) -> Self {
        ModelError::Invalid {
            what: what.to_string(),
            message: message.into(),
        }
    }
}

/// What a model was made from: a trace in one of the formats `fit` reads, or ServeGen's
/// per-client data (`import-servegen`), which is not a trace of requests. Written as the
/// format's name, or `servegen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    Trace(Format),
    Servegen,
}

impl SourceFormat {
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Trace(f) => f.name(),
            SourceFormat::Servegen => "servegen",
        }
    }
}

impl From<Format> for SourceFormat {
    fn from(format: Format) -> Self {
        SourceFormat::Trace(format)
    }
}

impl Serialize for SourceFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for SourceFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if name == "servegen" {
            return Ok(SourceFormat::Servegen);
        }
        Format::all()
            .find(|f| f.name() == name)
            .map(SourceFormat::Trace)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown source format `{name}`")))
    }
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// File name of the fitted trace (no directories: they leak local paths).
    pub source: String,
    pub source_sha256: String,
    pub source_format: SourceFormat,
    pub records: u64,
    /// Seconds from the first to the last record.
    pub span_seconds: f64,
    pub tracesynth_version: String,
    pub fit_seed: u64,
    /// How sessions were obtained.
    pub lineage: Lineage,
    /// Free-form remark (e.g. "calibrated to published statistics").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For calibrated models: the targets, the adjusted knobs and the final distance
    /// per target, as `calibrate` recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<serde_json::Value>,
    /// What `fit` saw running the model for ten times its span (models fitted before
    /// this report existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<stability::Stability>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub format_version: u32,
    pub provenance: Provenance,
    /// Tokens per hash id of generated traces (the source's; 16 when it had no blocks).
    pub block_size: u32,
    /// Generated timestamps are floored onto this grid (seconds), as the source's were.
    pub time_quantum: Option<f64>,
    /// Fitted span, seconds: the default duration and the period of the rate profile.
    pub span: f64,
    /// Seconds the generator runs sessions (roots at the profile's first rate) before
    /// its first written request. A trace cut from a running stream starts with
    /// sessions in progress: its orphans show it, or where lineage is inferred its
    /// counts do (see `fit::total_rate`). Calibrated models always run warm.
    pub warm_up: f64,
    /// What the stream did before the first written request, during the warm-up.
    #[serde(default, skip_serializing_if = "WarmUpHistory::is_start_level")]
    pub warm_up_history: WarmUpHistory,
    /// Request types; every per-type list below is indexed like this one.
    pub types: Vec<String>,
    pub arrivals: arrivals::ArrivalModel,
    pub sessions: sessions::SessionModel,
    pub lengths: lengths::LengthModel,
    pub blocks: blocks::BlockModel,
    /// Per-client arrivals and lengths (models imported from ServeGen client data). The
    /// sections above then describe the aggregate of the clients, so the model also works
    /// as an ordinary one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<clients::ClientMix>,
}

/// The root rate during the warm-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarmUpHistory {
    /// The profile's first rate: what a fit of one window knows of the stream before it
    /// (`fit::total_rate` assumes the same, so a fitted model reproduces its window).
    #[default]
    StartLevel,
    /// The repeating profile run backwards: the model's profile is the service's cycle
    /// (calibrated models), so the stream before any window is more of the same cycle and
    /// the first window is like every later one.
    Periodic,
}

impl WarmUpHistory {
    fn is_start_level(&self) -> bool {
        *self == WarmUpHistory::StartLevel
    }
}

impl Model {
    /// Whether a session begun in the warm-up goes on by the rules of its true turn in
    /// the written stretch. With explicit lineage the fit saw the follow-ups of requests
    /// before the window as follow-ups of their recorded turn (orphans), fitted root
    /// lengths on true roots alone, and so needs the warm-up to send those chains as they
    /// were. Where lineage is inferred, such a follow-up looked like a root to the fit:
    /// the roots' lengths and the first turn's rules already hold the conversations in
    /// flight at the window's start, so the generator starts every follow-up of an
    /// unwritten request again from the first turn's rules (continuing them doubled the
    /// long contexts: Mooncake 15-minute window, input KS 0.036 -> 0.084, 3 seeds).
    pub fn sessions_span_the_window(&self) -> bool {
        self.provenance.lineage == Lineage::Explicit
    }

    /// Parse and validate a model document. `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Model, ModelError> {
        // Look at the version first, so an old or future file gets a version error
        // rather than a confusing missing-field one.
        #[derive(Deserialize)]
        struct Header {
            format_version: u32,
        }
        let header: Header = serde_json::from_str(text).map_err(|source| ModelError::Parse {
            path: origin.to_string(),
            source,
        })?;
        let within = |source: ModelError| ModelError::In {
            path: origin.to_string(),
            source: Box::new(source),
        };
        if header.format_version != FORMAT_VERSION {
            return Err(within(ModelError::Version {
                found: header.format_version,
            }));
        }
        let model: Model = serde_json::from_str(text).map_err(|source| ModelError::Parse {
            path: origin.to_string(),
            source,
        })?;
        model.validate().map_err(within)?;
        Ok(model)
    }

    /// Read a model file: `-` for stdin, gzip or zstd decompressed as traces are, a UTF-8
    /// byte order mark skipped.
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let origin = path.display().to_string();
        let name = path.to_string_lossy();
        let text = crate::trace::input::read_text(&name).map_err(|source| ModelError::Io {
            path: origin.clone(),
            source,
        })?;
        Model::from_json(&text, if name == "-" { "stdin" } else { &origin })
    }

    /// The built-in default model.
    pub fn default_model() -> Model {
        Model::from_json(DEFAULT_MODEL_JSON, "built-in default model")
            .expect("the shipped default model is valid")
    }

    /// A shipped model by name (`default` is the default model); `None` for another name.
    pub fn shipped(name: &str) -> Option<Model> {
        let name = if name == "default" {
            DEFAULT_MODEL_NAME
        } else {
            name
        };
        SHIPPED_MODELS
            .iter()
            .find(|m| m.0 == name)
            .map(|(name, json)| {
                Model::from_json(json, &format!("built-in model {name}"))
                    .expect("the shipped models are valid")
            })
    }

    /// What `--model ARG` names: a model file (`-` for stdin), or, when no file of that
    /// name exists, a shipped model by name ([`SHIPPED_MODELS`], or `default`).
    pub fn resolve(arg: &str) -> Result<Model, ModelError> {
        let path = std::path::Path::new(arg);
        if arg != "-"
            && !path.exists()
            && let Some(model) = Model::shipped(arg)
        {
            return Ok(model);
        }
        Model::load(path)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a model always serializes") + "\n"
    }

    /// Check every parameter, so a bad file fails here with a clear message instead of
    /// panicking later inside the generator.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.block_size == 0 || u64::from(self.block_size) > crate::trace::MAX_TOKENS {
            return Err(ModelError::invalid(
                "block_size",
                format!("must lie in [1, {}] tokens", crate::trace::MAX_TOKENS),
            ));
        }
        if let Some(q) = self.time_quantum
            && !(q.is_finite() && q > 0.0)
        {
            return Err(ModelError::invalid("time_quantum", "must be > 0 or null"));
        }
        let max_span = crate::trace::MAX_SPAN;
        if !(self.warm_up.is_finite() && (0.0..=max_span).contains(&self.warm_up)) {
            return Err(ModelError::invalid(
                "warm_up",
                format!("must lie in [0, {max_span}] s (62 days)"),
            ));
        }
        if !(self.span.is_finite() && self.span > 0.0 && self.span <= max_span) {
            return Err(ModelError::invalid(
                "span",
                format!("must lie in (0, {max_span}] s (62 days)"),
            ));
        }
        if self.types.is_empty() {
            return Err(ModelError::invalid("types", "at least one type is needed"));
        }
        let n = self.types.len();
        self.arrivals.validate()?;
        self.sessions.validate(n)?;
        self.lengths.validate(n, self.blocks.prefixes.len())?;
        let max_blocks = crate::trace::MAX_TOKENS / u64::from(self.block_size);
        self.blocks.validate(n, max_blocks)?;
        if let Some(clients) = &self.clients {
            clients.validate(n)?;
        }
        Ok(())
    }
}
