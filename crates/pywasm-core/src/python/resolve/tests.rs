use super::*;

#[test]
fn requirement_names_are_normalised() {
    assert_eq!(requirement_name("Jinja2>=3"), Some("jinja2".into()));
    assert_eq!(
        requirement_name("zope.interface [x] ; python_version>'3'"),
        Some("zope-interface".into())
    );
    assert_eq!(requirement_name("pkg @ file:///x.whl"), Some("pkg".into()));
    assert_eq!(requirement_name(">=3"), None);
    assert_eq!(requirement_name("two words"), None);
}

fn spec(text: &str) -> DependencySpec {
    crate::manifest::Manifest::parse(Path::new("/p/pyproject.toml"), text)
        .unwrap()
        .deps
}

#[test]
fn extras_add_their_requirements_once() {
    let deps = spec(
        "[project]\nname = \"x\"\ndependencies = [\"attrs\"]\n[project.optional-dependencies]\nfast = [\"attrs\", \"orjson\"]\n[tool.pywasm]\nentry = \"x:m\"\nextras = [\"Fast\"]\n",
    );
    let (reqs, inputs) = requirements(&deps, &["fast".into()], "3.11").unwrap();
    let texts: Vec<_> = reqs.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["attrs", "orjson"]);
    assert_eq!(inputs.extras, ["fast"]);
}

#[test]
fn unknown_extras_are_located() {
    let deps = spec(
        "[project]\nname = \"x\"\n[project.optional-dependencies]\nfast = []\n[tool.pywasm]\nentry = \"x:m\"\nextras = [\"slow\"]\n",
    );
    let err = requirements(&deps, &[], "3.11").unwrap_err().to_string();
    assert!(err.contains("unknown extra `slow`"), "{err}");
    assert!(err.contains("pyproject.toml:7:11"), "{err}");
    assert!(err.contains("defines: `fast`"), "{err}");
    let deps = spec("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:m\"\n");
    let err = requirements(&deps, &["gpu".into()], "3.11")
        .unwrap_err()
        .to_string();
    assert!(err.contains("--> command line:1:10"), "{err}");
}

#[test]
fn malformed_requirements_are_located() {
    let deps = spec(
        "[project]\nname = \"x\"\ndependencies = [\"two words\"]\n[tool.pywasm]\nentry = \"x:m\"\n",
    );
    let err = requirements(&deps, &[], "3.11").unwrap_err().to_string();
    assert!(
        err.contains("`two words` is not a PEP 508 requirement"),
        "{err}"
    );
    assert!(err.contains("pyproject.toml:3:17"), "{err}");
}
