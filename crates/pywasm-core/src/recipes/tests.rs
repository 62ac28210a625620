use std::path::Path;

use super::*;

fn pins() -> Pins {
    Pins::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("wasi-sdk.toml")).unwrap()
}

#[test]
fn the_embedded_recipes_are_the_directory() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    let mut on_disk: Vec<String> = fs_err::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".toml").map(String::from)
        })
        .collect();
    on_disk.sort();
    assert_eq!(names(), on_disk, "add the new recipe to EMBEDDED");
    for embedded in EMBEDDED {
        let text = fs_err::read_to_string(dir.join(format!("{}.toml", embedded.name))).unwrap();
        assert_eq!(embedded.text, text, "{}", embedded.name);
        let beside = dir.join(embedded.name);
        let files: Vec<(String, Vec<u8>)> = if beside.is_dir() {
            fsutil::walk_files(&beside, &|_, _| false)
                .unwrap()
                .into_iter()
                .map(|rel| {
                    let bytes = fs_err::read(beside.join(&rel)).unwrap();
                    (fsutil::slash_path(&rel), bytes)
                })
                .collect()
        } else {
            Vec::new()
        };
        let embedded_files: Vec<(String, Vec<u8>)> = embedded
            .files
            .iter()
            .map(|(rel, bytes)| (rel.to_string(), bytes.to_vec()))
            .collect();
        assert_eq!(embedded_files, files, "the files beside {}", embedded.name);
    }
}

#[test]
fn the_longest_recipes_go_first() {
    let mut names: Vec<String> = names().into_iter().map(String::from).collect();
    names.push("new-one".to_owned());
    let ordered = longest_first(&names);
    assert_eq!(ordered[..2], ["lxml", "pydantic-core"]);
    assert_eq!(ordered.last().map(|n| n.as_str()), Some("new-one"));
}

#[test]
fn every_recipe_parses_and_uses_pinned_sources() {
    let pins = pins();
    assert!(EMBEDDED.len() >= 4);
    for embedded in EMBEDDED {
        let recipe = embedded.recipe().unwrap();
        for minor in pins.pythons.keys() {
            let pins = pins.clone().with_python(Some(minor)).unwrap();
            let used = make::used_pins(&recipe, &pins, embedded.name).unwrap();
            // CPython's own modules come from the source of the version built for.
            if let Some(cpython) = used.get("cpython") {
                assert_eq!(
                    cpython.version()[..minor.len()],
                    **minor,
                    "{} for CPython {minor}",
                    embedded.name
                );
            }
        }
        for module in &recipe.modules {
            let init = module.init();
            assert!(init.starts_with("PyInit_"), "{}: {init}", embedded.name);
        }
    }
}

#[test]
fn unknown_keys_in_a_recipe_are_refused_with_their_line() {
    let text = "[wheel]\ndistribution = \"x\"\nversion-from = \"x\"\nsummary = \"s\"\nsumary = 1\n";
    let err = Recipe::parse("bad.toml", text).unwrap_err().to_string();
    assert!(
        err.contains("bad.toml:5:1") && err.contains("unknown field `sumary`"),
        "{err}"
    );
}

#[test]
fn distributions_and_stdlib_modules_lead_to_their_recipe() {
    let pins = pins();
    assert_eq!(
        for_distribution("lxml", &pins.default_python),
        Some(("lxml", pins.sources["lxml"].version.clone()))
    );
    for spelling in ["pydantic-core", "Pydantic_Core", "pydantic.core"] {
        assert_eq!(
            for_distribution(spelling, &pins.default_python).map(|(name, _)| name),
            Some("pydantic-core"),
            "{spelling}"
        );
    }
    assert_eq!(for_distribution("numpy", &pins.default_python), None);
    assert_eq!(for_stdlib_module("zlib"), Some("zlib"));
    assert_eq!(for_stdlib_module("_sqlite3"), Some("sqlite3"));
    // lxml's modules are not the stdlib's.
    assert_eq!(for_stdlib_module("lxml.etree"), None);
    assert_eq!(for_stdlib_module("json"), None);
}

#[test]
fn an_unknown_recipe_lists_the_known_ones() {
    let err = find("numpy").unwrap_err();
    insta::assert_snapshot!(format!("{err:#}"), @r"
    pywasm has no wheel recipe `numpy`
      = help: the recipes are: lxml, pydantic-core, sqlite3, zlib
    ");
}
