//! The closure of the modules asked for, in load order: a module's `pre:` softdeps and
//! its dependencies before it, its `post:` softdeps after it. Missing required modules
//! are errors naming module and kernel version; missing optional softdeps are skipped
//! with a note; builtins are skipped.

use std::collections::BTreeSet;

use crate::error::{Error, ErrorKind};
use crate::modinfo;
use crate::tree::{IndexSource, Lookup, ModuleTree};
use crate::uncompressed_path;

/// One module to pack and load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedModule {
    /// Normalized name (`crc_t10dif`).
    pub name: String,
    /// Path in the tree as found (`kernel/lib/crc-t10dif.ko.xz`).
    pub source_path: String,
    /// Path relative to the module directory once uncompressed (`kernel/lib/crc-t10dif.ko`).
    pub path: String,
    /// The uncompressed module object.
    pub data: Vec<u8>,
    /// Named in the request (directly or as an alias), not only needed by another.
    pub requested: bool,
    /// The modules loaded around it: dependencies and found softdeps (`pre:` and `post:`).
    pub requires: Vec<String>,
}

/// The resolved set in load order, and what was skipped on the way.
#[derive(Clone, Debug, Default)]
pub struct Resolution {
    /// The modules in load order.
    pub modules: Vec<ResolvedModule>,
    /// Human-readable notes: builtins skipped, optional softdeps missing.
    pub notes: Vec<String>,
}

impl Resolution {
    /// The modules' names in load order.
    pub fn names(&self) -> Vec<&str> {
        self.modules.iter().map(|m| m.name.as_str()).collect()
    }

    /// Everything `name` requires, transitively, without itself.
    pub fn closure(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo = vec![name.to_string()];
        while let Some(n) = todo.pop() {
            let Some(m) = self.modules.iter().find(|m| m.name == n) else {
                continue;
            };
            for r in &m.requires {
                if r != name && out.insert(r.clone()) {
                    todo.push(r.clone());
                }
            }
        }
        out
    }
}

struct Walk<'a> {
    tree: &'a ModuleTree,
    done: BTreeSet<String>,
    in_progress: BTreeSet<String>,
    out: Resolution,
}

/// Resolves `wanted` (names or aliases, in the order given) against `tree`.
pub fn resolve(tree: &ModuleTree, wanted: &[String]) -> Result<Resolution, Error> {
    let mut walk = Walk {
        tree,
        done: BTreeSet::new(),
        in_progress: BTreeSet::new(),
        out: Resolution::default(),
    };
    let mut requested = BTreeSet::new();
    for name in wanted {
        match tree.lookup(name) {
            Lookup::Modules(found) => {
                for m in found {
                    walk.visit(&m)?;
                    requested.insert(m);
                }
            }
            Lookup::Builtin => walk
                .out
                .notes
                .push(format!("{name}: built into kernel {}, skipped", tree.kver)),
            Lookup::NotFound => {
                return Err(Error::new(ErrorKind::ModuleNotFound {
                    name: name.clone(),
                    kver: tree.kver.clone(),
                    dir: tree.dir.clone().into_boxed_path(),
                }))
            }
        }
    }
    for m in &mut walk.out.modules {
        m.requested = requested.contains(&m.name);
    }
    Ok(walk.out)
}

impl Walk<'_> {
    fn visit(&mut self, name: &str) -> Result<(), Error> {
        // A module met again while its own dependencies are being visited is a softdep
        // cycle; the first visit will place it.
        if self.done.contains(name) || !self.in_progress.insert(name.to_string()) {
            return Ok(());
        }
        let file = self
            .tree
            .module(name)
            .expect("visit is only called for indexed modules");
        let data = self.tree.read_module_file(&file.path)?;
        let mut softdeps = self
            .tree
            .indexed_softdeps(name)
            .cloned()
            .unwrap_or_default();
        if self.tree.source == IndexSource::ModulesDep {
            let info =
                modinfo::read(&data).map_err(|e| e.with_path(self.tree.dir.join(&file.path)))?;
            softdeps.merge(&info.softdeps);
        }
        let mut requires = Vec::new();
        for pre in &softdeps.pre {
            requires.extend(self.visit_optional(name, "pre", pre)?);
        }
        for dep in &file.depends {
            if self.tree.module(dep).is_none() {
                return Err(Error::new(ErrorKind::MissingDependency {
                    module: name.to_string(),
                    dep: dep.clone(),
                    kver: self.tree.kver.clone(),
                    dir: self.tree.dir.clone().into_boxed_path(),
                }));
            }
            self.visit(dep)?;
            requires.push(dep.clone());
        }
        self.in_progress.remove(name);
        self.done.insert(name.to_string());
        self.out.modules.push(ResolvedModule {
            name: name.to_string(),
            source_path: file.path.clone(),
            path: uncompressed_path(&file.path),
            data,
            requested: false,
            requires: Vec::new(),
        });
        let index = self.out.modules.len() - 1;
        for post in &softdeps.post {
            requires.extend(self.visit_optional(name, "post", post)?);
        }
        self.out.modules[index].requires = requires;
        Ok(())
    }

    /// Visits an optional softdep; returns the modules it resolved to.
    fn visit_optional(&mut self, of: &str, kind: &str, wanted: &str) -> Result<Vec<String>, Error> {
        match self.tree.lookup(wanted) {
            Lookup::Modules(found) => {
                for m in &found {
                    self.visit(m)?;
                }
                return Ok(found);
            }
            Lookup::Builtin => {}
            Lookup::NotFound => self.out.notes.push(format!(
                "{of}: optional {kind}: softdep {wanted} not found for kernel {}, skipped",
                self.tree.kver
            )),
        }
        Ok(Vec::new())
    }
}
