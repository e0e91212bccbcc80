//! A ServeGen model directory -> a tracesynth [`Model`] with per-client arrivals and
//! lengths ([`ClientMix`]), whose ordinary sections describe the clients' aggregate so
//! that everything else (stats of the model, the plain generator) keeps working.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::dataset::{self, Dataset, Fields, Pmf, WindowPmfs};
use super::trace_csv::{self, Pattern, TraceRow};
use super::{ServegenError, scan_dir};
use crate::fit::prepared::Lineage;
use crate::model::arrivals::{ArrivalModel, GapDist, GapFitKs};
use crate::model::blocks::BlockModel;
use crate::model::clients::{
    Client, ClientMix, DEFAULT_IO_SPEARMAN, GAMMA, IntDist, KNOT_TOLERANCE, MIN_GAMMA_SHAPE,
    MIN_WEIBULL_SHAPE, NO_TRAFFIC, WEIBULL, WindowLengths, squared_cv,
};
use crate::model::copula::GaussianCopula;
use crate::model::grid_copula::GridCopula;
use crate::model::lengths::{LengthModel, RootLengths, TypeLengths};
use crate::model::quantile::Quantile;
use crate::model::sessions::SessionModel;
use crate::model::{FORMAT_VERSION, Model, Provenance, SourceFormat, WarmUpHistory};
use crate::trace::BAILIAN_BLOCK;

/// ServeGen's arrival window, assumed only when no trace has two rows to tell.
const DEFAULT_WINDOW: f64 = 600.0;
/// Rates, shapes and CVs are kept to this many significant digits (a relative change of
/// 5e-7 at most) to keep the model file small.
const DIGITS: i32 = 6;
/// Draws from the client mix that measure the aggregate's input/output rank correlation.
const DEPENDENCE_DRAWS: usize = 20_000;
/// The aggregate gap CV^2 is capped here (a Gamma shape of 0.01: bursts of about 100).
const MAX_AGGREGATE_CV2: f64 = 100.0;

#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// Rank correlation of input and output within a client.
    pub io_spearman: f64,
    /// Keep only this many clients, those with the most requests.
    pub max_clients: Option<usize>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            io_spearman: DEFAULT_IO_SPEARMAN,
            max_clients: None,
        }
    }
}

/// An imported model and what the import did, for the command's summary.
#[derive(Debug, Clone)]
pub struct Imported {
    pub model: Model,
    /// Clients in the directory.
    pub clients_found: usize,
    /// Ids of the kept clients that use the pooled lengths (no dataset JSON, or one
    /// without data).
    pub pooled: Vec<String>,
    /// Files read (hashed into the provenance).
    pub files_read: usize,
}

/// One client as read.
struct ReadClient {
    id: String,
    trace_path: String,
    rows: Vec<TraceRow>,
    dataset: Option<(String, Dataset)>,
}

/// Import a ServeGen model directory.
///
/// The provenance's `source_sha256` is the SHA-256 of every file read, in file-name order,
/// each as its name, a NUL byte, its length (8 bytes, little-endian) and its bytes.
pub fn import_dir(dir: &Path, options: &ImportOptions) -> Result<Imported, ServegenError> {
    let files = scan_dir(dir)?;
    let (clients, sha256, files_read) = read_clients(&files)?;
    let grid = Grid::of(&clients)?;
    let fields = dataset_fields(&clients, dir)?;
    let length_window = length_window(&clients, grid.span());
    let n_lengths = ((grid.span() / length_window) - 1e-9).ceil().max(1.0) as usize;

    // Dense per-window series and per-length-window volumes.
    let mut notes = vec!["imported from ServeGen client data".to_string()];
    let mut clamped = 0usize;
    let mut series = Vec::with_capacity(clients.len());
    for c in &clients {
        let s = grid.series(c, &mut clamped);
        series.push(s);
    }
    let volumes: Vec<Vec<f64>> = series
        .iter()
        .map(|s| {
            let mut v = vec![0.0; n_lengths];
            for (w, r) in s.rate.iter().enumerate() {
                let i = ((w as f64 * grid.width / length_window) as usize).min(n_lengths - 1);
                v[i] += r * grid.width;
            }
            v
        })
        .collect();
    let own: Vec<Option<Vec<Option<WindowPmfs>>>> = clients
        .iter()
        .map(|c| own_lengths(c, &grid, length_window, n_lengths))
        .collect::<Result<_, _>>()?;

    // The clients kept: all, or the largest by volume (ties in id order).
    let total_volume = |i: usize| volumes[i].iter().sum::<f64>();
    let mut order: Vec<usize> = (0..clients.len()).collect();
    order.sort_by(|&a, &b| total_volume(b).total_cmp(&total_volume(a)));
    let keep_n = options
        .max_clients
        .unwrap_or(clients.len())
        .min(clients.len());
    let mut kept: Vec<usize> = order[..keep_n].to_vec();
    kept.sort_unstable();
    if keep_n < clients.len() {
        notes.push(format!(
            "kept the {keep_n} of {} clients with the most requests",
            clients.len()
        ));
    }

    // Pooled lengths (for kept clients without their own), from every client with data.
    let pooled_ids: Vec<String> = kept
        .iter()
        .filter(|&&i| own[i].is_none())
        .map(|&i| clients[i].id.clone())
        .collect();
    let pooled_pmfs: Vec<Option<WindowPmfs>> = if pooled_ids.is_empty() {
        Vec::new()
    } else {
        let with_data = own.iter().filter(|o| o.is_some()).count();
        notes.push(format!(
            "lengths pooled from the {with_data} clients with a dataset JSON (weighted by \
             requests per {length_window} s window) for the {} without one: clients {}",
            pooled_ids.len(),
            pooled_ids.join(", ")
        ));
        (0..n_lengths)
            .map(|i| pool(own.iter().zip(&volumes).map(|(o, v)| (o, v[i])), i))
            .collect()
    };

    let compress = |w: &Option<WindowPmfs>| -> Option<WindowLengths> {
        let w = w.as_ref()?;
        Some(WindowLengths {
            input: IntDist::from_pmf(&w.input, KNOT_TOLERANCE)?,
            output: IntDist::from_pmf(&w.output, KNOT_TOLERANCE)?,
        })
    };
    let mix = ClientMix {
        window: grid.width,
        length_window,
        dependence: GaussianCopula::from_spearman(options.io_spearman),
        pooled: pooled_pmfs.iter().map(compress).collect(),
        clients: kept
            .iter()
            .map(|&i| {
                let s = &series[i];
                Client {
                    id: clients[i].id.clone(),
                    ty: 0,
                    rate: s.rate.clone(),
                    pattern: s.pattern.clone(),
                    shape: s.shape.clone(),
                    cv: s.cv.clone(),
                    lengths: own[i].as_ref().map(|o| o.iter().map(compress).collect()),
                    dependence: None,
                }
            })
            .collect(),
    };

    match fields {
        Fields::Reason => {
            notes.push("reason_ratio ignored (a request record has no field for it)".into())
        }
        Fields::Multimodal => {
            notes.push("input = text + image + audio + video tokens, added as independent".into())
        }
        Fields::Language => {}
    }
    if clamped > 0 {
        notes.push(format!(
            "{clamped} windows had their gap shape raised to the smallest the sampler takes \
             (Gamma {MIN_GAMMA_SHAPE}, Weibull {MIN_WEIBULL_SHAPE})"
        ));
    }
    notes.push(format!(
        "input/output Spearman {} assumed within each client (the data has marginals only)",
        options.io_spearman
    ));
    notes.push("no prefix data: every block is fresh (blocks unshared)".into());
    notes.push(
        "aggregate arrivals: the clients' summed rates with Gamma gaps of their \
         rate-weighted squared CV, not fitted (gap_fit_ks is 0)"
            .into(),
    );

    // The aggregate, for everything that reads a model without looking at `clients`.
    let lengths = aggregate_lengths(&mix, &kept, &own, &pooled_pmfs, &volumes)?;
    let arrivals = aggregate_arrivals(&mix);
    let records = kept.iter().map(|&i| total_volume(i)).sum::<f64>().round() as u64;
    let model = Model {
        format_version: FORMAT_VERSION,
        provenance: Provenance {
            source: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string()),
            source_sha256: sha256,
            source_format: SourceFormat::Servegen,
            records,
            span_seconds: grid.span(),
            tracesynth_version: env!("CARGO_PKG_VERSION").to_string(),
            fit_seed: 0,
            lineage: Lineage::None,
            note: Some(notes.join("; ")),
            calibration: None,
            stability: None,
        },
        block_size: BAILIAN_BLOCK,
        time_quantum: None,
        span: grid.span(),
        warm_up: 0.0,
        warm_up_history: WarmUpHistory::StartLevel,
        types: vec![fields.request_type().to_string()],
        arrivals,
        sessions: SessionModel::roots_only(vec![1.0]),
        lengths: LengthModel {
            per_type: vec![TypeLengths::roots_only(lengths)],
        },
        blocks: BlockModel::unshared(1),
        clients: Some(mix),
    };
    model.validate()?;
    Ok(Imported {
        model,
        clients_found: clients.len(),
        pooled: pooled_ids,
        files_read,
    })
}

/// Read and parse every file in file-name order, hashing as it goes.
fn read_clients(
    files: &[super::ClientFiles],
) -> Result<(Vec<ReadClient>, String, usize), ServegenError> {
    let mut paths: Vec<(String, &PathBuf, usize, bool)> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        paths.push((file_name(&f.trace), &f.trace, i, false));
        if let Some(d) = &f.dataset {
            paths.push((file_name(d), d, i, true));
        }
    }
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    let mut rows: Vec<Option<Vec<TraceRow>>> = vec![None; files.len()];
    let mut datasets: Vec<Option<(String, Dataset)>> = vec![None; files.len()];
    for (name, path, i, is_dataset) in &paths {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ServegenError::Io {
            path: shown.clone(),
            source,
        })?;
        hasher.update(name.as_bytes());
        hasher.update([0u8]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
        let text = String::from_utf8(bytes).map_err(|_| ServegenError::Inconsistent {
            path: shown.clone(),
            message: "not UTF-8 text".to_string(),
        })?;
        if *is_dataset {
            datasets[*i] = Some((shown.clone(), dataset::parse(&text, &shown)?));
        } else {
            rows[*i] = Some(trace_csv::parse(&text, &shown)?);
        }
    }
    let clients = files
        .iter()
        .zip(rows)
        .zip(datasets)
        .map(|((f, rows), dataset)| ReadClient {
            id: f.id.clone(),
            trace_path: f.trace.display().to_string(),
            rows: rows.expect("every trace was read"),
            dataset,
        })
        .collect();
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((clients, hex, paths.len()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Which fields the datasets have (all must agree on multimodal or not).
fn dataset_fields(clients: &[ReadClient], dir: &Path) -> Result<Fields, ServegenError> {
    let mut found: Option<(Fields, &str)> = None;
    for c in clients {
        let Some((path, d)) = &c.dataset else {
            continue;
        };
        if d.windows.iter().all(|w| w.1.is_none()) {
            continue;
        }
        match found {
            Some((f, first)) if f.request_type() != d.fields.request_type() => {
                return Err(ServegenError::Inconsistent {
                    path: path.clone(),
                    message: format!(
                        "has {:?} fields, but {first} has {f:?} ones: one model directory at a time",
                        d.fields
                    ),
                });
            }
            Some((Fields::Language, _)) if d.fields == Fields::Reason => {
                found = Some((Fields::Reason, path));
            }
            None => found = Some((d.fields, path)),
            _ => {}
        }
    }
    found
        .map(|f| f.0)
        .ok_or_else(|| ServegenError::Inconsistent {
            path: dir.display().to_string(),
            message: "no chunk-<client>-dataset.json with data: nothing to take lengths from"
                .to_string(),
        })
}

/// The arrival windows every client is placed on.
struct Grid {
    /// Start of the first window of any client, seconds: model time 0.
    origin: f64,
    width: f64,
    windows: usize,
}

/// A client's per-window series on the grid.
struct Series {
    rate: Vec<f64>,
    pattern: String,
    shape: Vec<f64>,
    cv: Vec<f64>,
}

impl Grid {
    fn of(clients: &[ReadClient]) -> Result<Grid, ServegenError> {
        let mut width: Option<(f64, &str)> = None;
        for c in clients.iter().filter(|c| c.rows.len() >= 2) {
            let w = c.rows[1].start - c.rows[0].start;
            match width {
                Some((known, first)) if (w - known).abs() > 1e-9 * known => {
                    return Err(ServegenError::Inconsistent {
                        path: c.trace_path.clone(),
                        message: format!("windows of {w} s, but {first} has {known} s ones"),
                    });
                }
                None => width = Some((w, &c.trace_path)),
                _ => {}
            }
        }
        let width = width.map_or(DEFAULT_WINDOW, |w| w.0);
        let origin = clients
            .iter()
            .map(|c| c.rows[0].start)
            .fold(f64::INFINITY, f64::min);
        let mut windows = 0;
        for c in clients {
            let offset = (c.rows[0].start - origin) / width;
            if (offset - offset.round()).abs() > 1e-6 {
                return Err(ServegenError::Inconsistent {
                    path: c.trace_path.clone(),
                    message: format!(
                        "its first window starts at {} s, off the {width} s grid of the others",
                        c.rows[0].start
                    ),
                });
            }
            windows = windows.max(offset.round() as usize + c.rows.len());
        }
        Ok(Grid {
            origin,
            width,
            windows,
        })
    }

    fn span(&self) -> f64 {
        self.windows as f64 * self.width
    }

    fn series(&self, c: &ReadClient, clamped: &mut usize) -> Series {
        let offset = ((c.rows[0].start - self.origin) / self.width).round() as usize;
        let mut s = Series {
            rate: vec![0.0; self.windows],
            pattern: String::with_capacity(self.windows),
            shape: Vec::new(),
            cv: Vec::new(),
        };
        let mut patterns = vec![NO_TRAFFIC; self.windows];
        for (k, row) in c.rows.iter().enumerate() {
            let w = offset + k;
            let (p, min) = match row.pattern {
                Pattern::None => continue,
                Pattern::Gamma => (GAMMA, MIN_GAMMA_SHAPE),
                Pattern::Weibull => (WEIBULL, MIN_WEIBULL_SHAPE),
            };
            s.rate[w] = round_sig(row.rate);
            patterns[w] = p;
            if row.shape < min {
                *clamped += 1;
            }
            s.shape.push(round_sig(row.shape.max(min)));
            s.cv.push(round_sig(row.cv));
        }
        s.pattern = patterns.into_iter().collect();
        s
    }
}

fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(DIGITS - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// The width of the length windows: the smallest step between any dataset's windows
/// (ServeGen: 6 h); the whole span when no dataset has two windows.
fn length_window(clients: &[ReadClient], span: f64) -> f64 {
    clients
        .iter()
        .filter_map(|c| c.dataset.as_ref())
        .flat_map(|(_, d)| d.windows.windows(2).map(|w| w[1].0 - w[0].0))
        .filter(|&d| d > 0.0)
        .fold(span, f64::min)
}

/// A client's own length PMFs per length window, `None` when it has no dataset with data.
fn own_lengths(
    c: &ReadClient,
    grid: &Grid,
    length_window: f64,
    n_lengths: usize,
) -> Result<Option<Vec<Option<WindowPmfs>>>, ServegenError> {
    let Some((path, d)) = &c.dataset else {
        return Ok(None);
    };
    let mut windows: Vec<Option<WindowPmfs>> = vec![None; n_lengths];
    for (start, pmfs) in &d.windows {
        let at = (start - grid.origin) / length_window;
        if at < -1e-6 || (at - at.round()).abs() > 1e-6 || at.round() as usize >= n_lengths {
            return Err(ServegenError::Inconsistent {
                path: path.clone(),
                message: format!(
                    "window {start} is off the {length_window} s grid of the trace's {} s span",
                    grid.span()
                ),
            });
        }
        windows[at.round() as usize] = pmfs.clone();
    }
    Ok(windows.iter().any(Option::is_some).then_some(windows))
}

/// The mixture of the clients' PMFs of length window `i`, weighted by their requests in
/// it (equally when none has requests there). `None` when no client has data there.
fn pool<'a>(
    clients: impl Iterator<Item = (&'a Option<Vec<Option<WindowPmfs>>>, f64)>,
    i: usize,
) -> Option<WindowPmfs> {
    let with_data: Vec<(&WindowPmfs, f64)> = clients
        .filter_map(|(own, volume)| Some((own.as_ref()?[i].as_ref()?, volume)))
        .collect();
    if with_data.is_empty() {
        return None;
    }
    let total: f64 = with_data.iter().map(|w| w.1).sum();
    let weight = |v: f64| {
        if total > 0.0 {
            v / total
        } else {
            1.0 / with_data.len() as f64
        }
    };
    let (mut input, mut output) = (Mixture::default(), Mixture::default());
    for (pmfs, volume) in &with_data {
        input.add(&pmfs.input, weight(*volume));
        output.add(&pmfs.output, weight(*volume));
    }
    Some(WindowPmfs {
        input: input.pmf(),
        output: output.pmf(),
    })
}

/// A weighted sum of PMFs.
#[derive(Default)]
struct Mixture(BTreeMap<u64, f64>);

impl Mixture {
    fn add(&mut self, pmf: &[(u64, f64)], weight: f64) {
        if weight > 0.0 {
            for &(v, p) in pmf {
                *self.0.entry(v).or_insert(0.0) += p * weight;
            }
        }
    }

    fn pmf(self) -> Pmf {
        self.0.into_iter().collect()
    }
}

/// The window that stands in for length window `i` of `windows`: itself, or the last
/// earlier one with data, cyclically (as [`ClientMix::lengths_at`] does).
fn resolve(windows: &[Option<WindowPmfs>], i: usize) -> Option<&WindowPmfs> {
    let n = windows.len();
    (0..n).find_map(|back| windows[(i + n - back) % n].as_ref())
}

/// The kept clients' lengths together: each client's PMFs weighted by its requests per
/// length window, and the rank correlation measured on draws from the mix (mixing clients
/// of different sizes adds dependence of its own beyond each client's copula).
fn aggregate_lengths(
    mix: &ClientMix,
    kept: &[usize],
    own: &[Option<Vec<Option<WindowPmfs>>>],
    pooled: &[Option<WindowPmfs>],
    volumes: &[Vec<f64>],
) -> Result<RootLengths, ServegenError> {
    let (mut input, mut output) = (Mixture::default(), Mixture::default());
    let mut cells = Vec::new();
    let mut cumulative = Vec::new();
    let mut acc = 0.0;
    for (k, &c) in kept.iter().enumerate() {
        let windows = own[c].as_deref().unwrap_or(pooled);
        for (i, &volume) in volumes[c].iter().enumerate() {
            if volume <= 0.0 {
                continue;
            }
            if let Some(w) = resolve(windows, i) {
                input.add(&w.input, volume);
                output.add(&w.output, volume);
            }
            acc += volume;
            cells.push((k, i));
            cumulative.push(acc);
        }
    }
    let split = |m: Mixture| -> (Vec<f64>, Vec<f64>) {
        m.0.into_iter().map(|(v, w)| (v.max(1) as f64, w)).unzip()
    };
    let (in_values, in_weights) = split(input);
    let (out_values, out_weights) = split(output);
    let no_traffic = || {
        ServegenError::Model(crate::model::ModelError::invalid(
            "clients",
            "the kept clients send no requests",
        ))
    };
    let own_input = Quantile::fit_weighted(&in_values, &in_weights).ok_or_else(no_traffic)?;
    let output = Quantile::fit_weighted(&out_values, &out_weights).ok_or_else(no_traffic)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (xs, ys): (Vec<f64>, Vec<f64>) = (0..DEPENDENCE_DRAWS)
        .map(|_| {
            let u = rng.random::<f64>() * acc;
            let j = cumulative.partition_point(|&c| c <= u).min(cells.len() - 1);
            let (k, i) = cells[j];
            let t = (i as f64 + 0.5) * mix.length_window;
            let (a, b) = mix.sample_lengths(k, t, &mut rng);
            (a as f64, b as f64)
        })
        .unzip();
    let dependence = GaussianCopula::fit(&xs, &ys);
    Ok(RootLengths {
        own_input,
        output,
        grid: GridCopula::fit(&xs, &ys, &dependence),
        dependence,
        samples: DEPENDENCE_DRAWS,
        by_node: Vec::new(),
        other_own: None,
    })
}

/// The clients' summed rate per window, with Gamma gaps whose squared CV is the clients'
/// rate-weighted one: the superposition of independent renewal processes has that index
/// of dispersion of counts over long windows, which a renewal process of that CV shares.
/// (Its gaps are burstier than the superposition's; the per-client clock is the faithful
/// one.)
fn aggregate_arrivals(mix: &ClientMix) -> ArrivalModel {
    let (mut weighted, mut total) = (0.0, 0.0);
    for c in &mix.clients {
        let active = c.pattern.chars().zip(&c.rate).filter(|p| p.0 != NO_TRAFFIC);
        for ((p, &r), &k) in active.zip(&c.shape) {
            weighted += r * squared_cv(p, k).min(MAX_AGGREGATE_CV2);
            total += r;
        }
    }
    let cv2 = if total > 0.0 { weighted / total } else { 1.0 };
    ArrivalModel {
        bin_width: mix.window,
        rates: mix.total_rates(),
        zero_gap_prob: 0.0,
        gaps: GapDist::Gamma {
            shape: round_sig(1.0 / cv2.max(1.0 / MAX_AGGREGATE_CV2)),
        },
        gap_fit_ks: GapFitKs {
            gamma: 0.0,
            weibull: 0.0,
            empirical: 0.0,
        },
        burst_bin: 0.0,
        burst_var: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_six_significant_digits() {
        assert_eq!(round_sig(0.15333333333333332), 0.153333);
        assert_eq!(round_sig(1234567.0), 1234570.0);
        assert_eq!(round_sig(0.0), 0.0);
    }

    #[test]
    fn pools_by_volume() {
        let a = Some(vec![Some(WindowPmfs {
            input: vec![(10, 1.0)],
            output: vec![(1, 1.0)],
        })]);
        let b = Some(vec![Some(WindowPmfs {
            input: vec![(20, 1.0)],
            output: vec![(1, 1.0)],
        })]);
        let none = None;
        let p = pool([(&a, 3.0), (&b, 1.0), (&none, 5.0)].into_iter(), 0).unwrap();
        assert_eq!(p.input, vec![(10, 0.75), (20, 0.25)]);
        let p = pool([(&a, 0.0), (&b, 0.0)].into_iter(), 0).unwrap();
        assert_eq!(p.input, vec![(10, 0.5), (20, 0.5)]);
    }
}
