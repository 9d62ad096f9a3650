//! A kernel's module directory (`/lib/modules/<kver>`): which modules exist, what they
//! need, their aliases and the builtins. Indexed from depmod's files when `modules.dep`
//! exists, else from every module's `.modinfo` (a tree not yet depmod'ed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::alias::AliasTable;
use crate::error::{Error, ErrorKind};
use crate::softdep::{self, SoftDeps};
use crate::{builtin, decompress, dep, modinfo, name_from_path, normalize_name};

/// depmod's dependency list ([`dep`]).
pub const MODULES_DEP: &str = "modules.dep";
/// depmod's soft dependencies ([`softdep`]).
pub const MODULES_SOFTDEP: &str = "modules.softdep";
/// depmod's aliases of the loadable modules ([`crate::alias`]).
pub const MODULES_ALIAS: &str = "modules.alias";
/// The kernel's list of builtin modules ([`builtin`]).
pub const MODULES_BUILTIN: &str = "modules.builtin";
/// The kernel's `.modinfo` strings of builtin modules ([`builtin::parse_modinfo_aliases`]).
pub const MODULES_BUILTIN_MODINFO: &str = "modules.builtin.modinfo";

/// One module file of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleFile {
    /// Path relative to the tree, as found (possibly compressed).
    pub path: String,
    /// Normalized names of the modules it links against.
    pub depends: Vec<String>,
}

/// Where the index came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexSource {
    /// depmod's `modules.dep` (softdeps of `.modinfo` are read per module on demand).
    ModulesDep,
    /// Every module's `.modinfo` (no `modules.dep`).
    Modinfo,
}

/// A kernel's module directory, indexed: see the module docs.
#[derive(Clone, Debug)]
pub struct ModuleTree {
    /// The directory (`/lib/modules/<kver>`).
    pub dir: PathBuf,
    /// The kernel version, for messages.
    pub kver: String,
    /// Where the index came from.
    pub source: IndexSource,
    modules: BTreeMap<String, ModuleFile>,
    /// Soft dependencies known without opening modules: `modules.softdep`, plus every
    /// `.modinfo` softdep when indexed from modinfo.
    softdeps: BTreeMap<String, SoftDeps>,
    aliases: AliasTable,
    builtin: BTreeSet<String>,
}

/// What a name asked for turns out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// One or more module files (several when an alias matches several modules).
    Modules(Vec<String>),
    /// Built into the kernel: nothing to pack or load.
    Builtin,
    /// Neither a module nor an alias of one, nor builtin.
    NotFound,
}

impl ModuleTree {
    /// Indexes `dir`, the modules of kernel `kver`.
    pub fn load(dir: &Path, kver: &str) -> Result<Self, Error> {
        if !dir.is_dir() {
            return Err(Error::at_path(
                dir,
                ErrorKind::NoModuleDirectory {
                    kver: kver.to_string(),
                },
            ));
        }
        let mut tree = Self {
            dir: dir.to_path_buf(),
            kver: kver.to_string(),
            source: IndexSource::ModulesDep,
            modules: BTreeMap::new(),
            softdeps: BTreeMap::new(),
            aliases: AliasTable::default(),
            builtin: BTreeSet::new(),
        };
        // modules.alias first: it holds the loadable modules' aliases only, and the
        // builtins' aliases from modules.builtin.modinfo are added after them.
        if let Some(text) = tree.read_optional(MODULES_ALIAS)? {
            tree.aliases = AliasTable::parse(tree.dir.join(MODULES_ALIAS), &text)?;
        }
        if let Some(text) = tree.read_optional(MODULES_BUILTIN)? {
            tree.builtin = builtin::parse(tree.dir.join(MODULES_BUILTIN), &text)?;
        }
        let builtin_modinfo = tree.dir.join(MODULES_BUILTIN_MODINFO);
        match std::fs::read(&builtin_modinfo) {
            Ok(bytes) => {
                for (module, pattern) in builtin::parse_modinfo_aliases(&bytes) {
                    tree.aliases.add(&pattern, &module);
                    tree.builtin.insert(module);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::at_path(&builtin_modinfo, ErrorKind::Io(e))),
        }
        if let Some(text) = tree.read_optional(MODULES_SOFTDEP)? {
            tree.softdeps = softdep::parse_file(tree.dir.join(MODULES_SOFTDEP), &text)?;
        }
        match tree.read_optional(MODULES_DEP)? {
            Some(text) => tree.index_modules_dep(&text)?,
            None => {
                tree.source = IndexSource::Modinfo;
                tree.index_modinfo()?;
            }
        }
        Ok(tree)
    }

    fn index_modules_dep(&mut self, text: &str) -> Result<(), Error> {
        for line in dep::parse(self.dir.join(MODULES_DEP), text)? {
            let name = name_from_path(&line.path).expect("dep::parse checks module paths");
            let depends = line.deps.iter().filter_map(|d| name_from_path(d)).collect();
            self.modules.insert(
                name,
                ModuleFile {
                    path: line.path,
                    depends,
                },
            );
        }
        Ok(())
    }

    fn index_modinfo(&mut self) -> Result<(), Error> {
        let mut paths = Vec::new();
        for entry in walkdir::WalkDir::new(&self.dir).sort_by_file_name() {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(&self.dir).to_path_buf();
                Error::at_path(path, ErrorKind::Io(e.into()))
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(&self.dir)
                .expect("walkdir stays under its root");
            let rel = rel.to_string_lossy().into_owned();
            if name_from_path(&rel).is_some() {
                paths.push(rel);
            }
        }
        for path in paths {
            let data = self.read_module_file(&path)?;
            let info = modinfo::read(&data).map_err(|e| e.with_path(self.dir.join(&path)))?;
            let name = name_from_path(&path).expect("filtered above");
            for alias in &info.aliases {
                self.aliases.add(alias, &name);
            }
            if !info.softdeps.is_empty() {
                self.softdeps
                    .entry(name.clone())
                    .or_default()
                    .merge(&info.softdeps);
            }
            self.modules.insert(
                name,
                ModuleFile {
                    path,
                    depends: info.depends,
                },
            );
        }
        Ok(())
    }

    /// Resolves a module name or alias.
    pub fn lookup(&self, name: &str) -> Lookup {
        let name = normalize_name(name);
        if self.modules.contains_key(&name) {
            return Lookup::Modules(vec![name]);
        }
        if self.builtin.contains(&name) {
            return Lookup::Builtin;
        }
        let matches = self.aliases.modules_for(&name);
        let files: Vec<String> = matches
            .iter()
            .filter(|m| self.modules.contains_key(**m))
            .map(|m| m.to_string())
            .collect();
        if !files.is_empty() {
            Lookup::Modules(files)
        } else if matches.iter().any(|m| self.builtin.contains(*m)) {
            Lookup::Builtin
        } else {
            Lookup::NotFound
        }
    }

    /// The module file of a normalized name.
    pub fn module(&self, name: &str) -> Option<&ModuleFile> {
        self.modules.get(name)
    }

    /// Soft dependencies known from the index (not from the module's own `.modinfo`).
    pub fn indexed_softdeps(&self, name: &str) -> Option<&SoftDeps> {
        self.softdeps.get(name)
    }

    /// How many module files the tree has.
    pub fn module_count(&self) -> usize {
        self.modules.len()
    }

    /// Reads a module file and decompresses it.
    pub fn read_module_file(&self, path: &str) -> Result<Vec<u8>, Error> {
        let full = self.dir.join(path);
        let bytes = std::fs::read(&full).map_err(|e| Error::at_path(&full, ErrorKind::Io(e)))?;
        decompress::decompress_module(&full, bytes)
    }

    fn read_optional(&self, file: &str) -> Result<Option<String>, Error> {
        let path = self.dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::at_path(&path, ErrorKind::Io(e))),
        }
    }
}
