//! Round trips over the whole corpus: text → model → binary → model, and text → model → dump →
//! parse → model, must give the same model.

use keeplite::config::{self, binary, Verdict};
use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/ok");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/corpus/ok exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.push(root.join("include_tree/keepalived.conf"));
    files.sort();
    assert!(files.len() >= 10, "corpus went missing: {files:?}");
    files
}

#[test]
fn binary_round_trip_is_lossless() {
    for file in corpus() {
        let loaded = config::load(&file);
        assert_eq!(
            loaded.diagnostics.verdict(),
            Verdict::Valid,
            "{}",
            file.display()
        );
        let bytes = binary::encode(&loaded.config);
        let back = binary::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(back, loaded.config, "{}", file.display());
    }
}

#[test]
fn dump_round_trip_is_lossless_and_a_fixed_point() {
    for file in corpus() {
        let loaded = config::load(&file);
        let text = config::dump(&loaded.config);
        let again = config::parse_str("dump.conf", &text);
        let problems: Vec<String> = again
            .diagnostics
            .items
            .iter()
            .map(|d| again.diagnostics.render(d).to_string())
            .collect();
        assert!(
            problems.is_empty(),
            "{}: dump does not parse cleanly: {problems:#?}\n{text}",
            file.display()
        );
        assert_eq!(
            again.config,
            loaded.config,
            "{}: dump changes the model\n{text}",
            file.display()
        );
        assert_eq!(
            config::dump(&again.config),
            text,
            "{}: dump is not a fixed point",
            file.display()
        );
    }
}

#[test]
fn corpus_is_not_trivially_empty() {
    let mut instances = 0;
    let mut servers = 0;
    for file in corpus() {
        let c = config::load(&file).config;
        instances += c.instances.len();
        servers += c.virtual_servers.len();
    }
    assert!(
        instances >= 10,
        "only {instances} instances parsed from the corpus"
    );
    assert!(
        servers >= 10,
        "only {servers} virtual servers parsed from the corpus"
    );
}
