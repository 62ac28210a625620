//! The bundle's import graph, from what the bytecode compiler saw in every source: which
//! modules the app and its dependencies can reach through the stdlib. It decides which stdlib
//! extension modules (zlib, _sqlite3) are linked.

use std::collections::{BTreeMap, BTreeSet};

/// Module name → the modules it imports (absolute names).
#[derive(Clone, Debug, Default)]
pub struct ImportGraph {
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl ImportGraph {
    /// Adds the files of one `sys.path` root (`/app`, the stdlib, site-packages); `imports` maps
    /// guest paths to the compiler's import names. Returns the modules added.
    pub fn add_root(&mut self, root: &str, imports: &BTreeMap<String, Vec<String>>) -> Vec<String> {
        let mut added = Vec::new();
        for (guest, names) in imports {
            let Some((module, is_package)) = module_of(root, guest) else {
                continue;
            };
            let package = if is_package {
                module.clone()
            } else {
                module
                    .rsplit_once('.')
                    .map(|(p, _)| p.to_string())
                    .unwrap_or_default()
            };
            let targets = names.iter().filter_map(|n| absolute(n, &package)).collect();
            added.push(module.clone());
            self.edges.insert(module, targets);
        }
        added
    }

    /// Everything reachable from `roots`, parents of dotted names included (importing `a.b`
    /// runs `a` first).
    pub fn reachable<'a>(&self, roots: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = roots.into_iter().cloned().collect();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some((parent, _)) = name.rsplit_once('.') {
                todo.push(parent.to_string());
            }
            if let Some(targets) = self.edges.get(&name) {
                todo.extend(targets.iter().filter(|t| !seen.contains(*t)).cloned());
            }
        }
        seen
    }
}

/// `pkg.mod` for `<root>/pkg/mod.py`, `pkg` (a package) for `<root>/pkg/__init__.py`.
fn module_of(root: &str, guest: &str) -> Option<(String, bool)> {
    let rel = guest
        .strip_prefix(root)?
        .strip_prefix('/')?
        .strip_suffix(".py")?;
    match rel.strip_suffix("/__init__") {
        Some(package) => Some((package.replace('/', "."), true)),
        None => Some((rel.replace('/', "."), false)),
    }
}

/// Resolves `..a.b` against `package`; absolute names pass through.
fn absolute(name: &str, package: &str) -> Option<String> {
    let level = name.chars().take_while(|&c| c == '.').count();
    if level == 0 {
        return Some(name.to_string());
    }
    let mut base: Vec<&str> = package.split('.').filter(|p| !p.is_empty()).collect();
    for _ in 1..level {
        base.pop()?;
    }
    let rest = &name[level..];
    if !rest.is_empty() {
        base.push(rest);
    }
    (!base.is_empty()).then(|| base.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_imports_resolve_against_the_package() {
        assert_eq!(absolute(".decoder", "json"), Some("json.decoder".into()));
        assert_eq!(absolute("..x", "a.b"), Some("a.x".into()));
        assert_eq!(absolute(".", "a"), Some("a".into()));
        assert_eq!(absolute("...x", "a"), None);
        assert_eq!(absolute("os.path", ""), Some("os.path".into()));
    }

    #[test]
    fn reachability_follows_the_stdlib() {
        let mut graph = ImportGraph::default();
        let stdlib: BTreeMap<String, Vec<String>> = [
            ("/lib/gzip.py", vec!["zlib", "os"]),
            ("/lib/json/__init__.py", vec![".decoder"]),
            ("/lib/json/decoder.py", vec!["re"]),
            ("/lib/sqlite3/__init__.py", vec!["sqlite3.dbapi2"]),
            ("/lib/sqlite3/dbapi2.py", vec!["_sqlite3"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
        graph.add_root("/lib", &stdlib);
        let app: BTreeMap<String, Vec<String>> = [(
            "/app/main.py".to_string(),
            vec!["json".to_string(), "gzip".to_string()],
        )]
        .into();
        graph.add_root("/app", &app);
        let reached = graph.reachable(&["main".to_string()]);
        assert!(
            reached.contains("zlib") && reached.contains("json.decoder") && reached.contains("re")
        );
        assert!(!reached.contains("_sqlite3"));
    }
}
