//! The models shipped in `models/` are exactly what `fit` makes of the vendored real
//! traces today, so a change to the fit cannot leave a stale default model behind.
//! Run with `TRACESYNTH_BLESS=1` to rewrite them after a deliberate change.

mod util;

use std::path::Path;

use tracesynth::fit::{FitOptions, fit_file};
use tracesynth::model::Model;

fn check(model_file: &str, source: &Path) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(model_file);
    let fitted = fit_file(source.to_str().unwrap(), None, &FitOptions::default()).unwrap();
    let json = fitted.to_json();
    if std::env::var_os("TRACESYNTH_BLESS").is_some() {
        std::fs::write(&path, &json).unwrap();
        return;
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == json,
        "models/{model_file} is stale: rerun `TRACESYNTH_BLESS=1 cargo test --release --test shipped_models`"
    );
    Model::from_json(&shipped, model_file).expect("a shipped model loads");
}

#[test]
fn the_mooncake_model_is_current() {
    check("mooncake-conversation.json", &util::mooncake());
}

#[test]
fn the_azure_model_is_current() {
    check("azure-conversation.json", &util::azure());
}

#[test]
fn the_default_model_is_the_calibrated_trace_a_model() {
    let default = Model::default_model();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/qwen-trace-a.json");
    let shipped = Model::load(&shipped).unwrap();
    assert_eq!(default, shipped);
    assert_eq!(
        default.provenance.note.as_deref(),
        Some("calibrated to published statistics, not fitted to the file")
    );
    assert!(
        default.provenance.calibration.is_some(),
        "the calibration record is kept"
    );
}
