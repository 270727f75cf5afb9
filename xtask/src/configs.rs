//! Derived copies of the wrangler configs: the same bindings, with paths made
//! absolute so the copy can live anywhere, and with the changes a particular
//! run needs (no containers locally; no service bindings for a first deploy).

use std::path::Path;
use std::path::PathBuf;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;
use serde_json::Map;
use serde_json::Value;

use crate::build::Worker;
use crate::jsonc;
use crate::paths;

/// Writes `dir/wrangler-<worker>.json`, derived from the worker's config with
/// `edit` applied to the top level and to every environment block.
pub(crate) fn derive(
    worker: Worker,
    dir: &Path,
    edit: impl Fn(&mut Map<String, Value>),
) -> Result<PathBuf> {
    let source = worker.config();
    let text = std::fs::read_to_string(&source)
        .with_context(|| format!("reading {}", source.display()))?;
    let mut config =
        jsonc::parse(&text).with_context(|| format!("parsing {}", source.display()))?;
    let Some(top) = config.as_object_mut() else {
        bail!("{} is not a JSON object", source.display());
    };
    top.remove("$schema");
    absolutize(top);
    edit(top);
    if let Some(envs) = top.get_mut("env").and_then(Value::as_object_mut) {
        for block in envs.values_mut().filter_map(Value::as_object_mut) {
            absolutize(block);
            edit(block);
        }
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("wrangler-{}.json", worker.name));
    std::fs::write(&path, serde_json::to_string_pretty(&config)?)?;
    Ok(path)
}

/// Makes `main` and every D1 `migrations_dir` absolute.
fn absolutize(block: &mut Map<String, Value>) {
    let root = paths::root();
    let absolute = |p: &str| Value::from(root.join(p).to_string_lossy().into_owned());
    if let Some(main) = block.get("main").and_then(Value::as_str) {
        let main = absolute(main);
        block.insert("main".into(), main);
    }
    for db in block
        .get_mut("d1_databases")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(dir) = db.get("migrations_dir").and_then(Value::as_str) {
            db["migrations_dir"] = absolute(dir);
        }
    }
}
