//! The compact form of a validated config: what the builder packs for the init, so that
//! PID 1 reads its config without TOML and serde. Under QEMU's TCG the cost of a parse is
//! mostly translating the code it runs, and the TOML reader is about a quarter of the
//! init's code; this reader is a few hundred lines of straight-line string handling.
//!
//! The format: one field a line, values separated by tabs (→ below), with `\\`, `\t`,
//! `\n` and `\r` escaped:
//!
//! ```text
//! flashroot compact config 1
//! trigger→mtd
//! card.device→/dev/sda1
//! container
//! container.file→rootfs.img
//! modules.param→loop→max_loop=8
//! ```
//!
//! A bare `container`, `tmpfs`, `overlay` or `ramdir` line starts one more entry of that list, and
//! the `container.*` lines after it fill it in. Repeated keys (`container.option`,
//! `modules.load`, `modules.extra`, `modules.param`, `initramfs.file`,
//! `initramfs.gen_init_cpio`) append in order; an empty list has no line. Keys are the
//! TOML keys, so an error names the setting the user wrote. Both sides come from one
//! `flashroot` binary; the header's version refuses anything else.

use std::collections::BTreeMap;

use crate::word::Word;
use crate::{
    AbsPath, Card, CardWrites, Compression, Config, ConfigError, Container, DeviceRef, EraseSize,
    ExtraFile, Failure, FailureAction, Initramfs, KeepCard, Modules, Overlay, RamDir, RelPath,
    Tmpfs, ValueError, DEFAULT_FLUSH_MS,
};

/// Where the builder packs the compact config in the initramfs.
pub const COMPACT_PATH: &str = "/etc/flashroot/flashroot.conf";

/// The embedded default in compact form, generated from `flashroot.toml` (a test checks
/// they agree; `cargo run -p flashroot-config --example compact_default > config/default.conf`
/// regenerates it).
pub const DEFAULT_COMPACT: &str = include_str!("../default.conf");

/// The first line; the number changes with any change of meaning.
const HEADER: &str = "flashroot compact config 1";
/// Between a key and its values, and between values.
const SEPARATOR: char = '\t';

impl Config {
    /// The compact form of this config; [`Config::from_compact`] reads it back equal.
    pub fn to_compact(&self) -> String {
        // Destructured in full, so that a new field does not compile until it is written.
        let Config {
            trigger,
            card,
            containers,
            tmpfs,
            overlays,
            ramdirs,
            modules,
            failure,
            initramfs,
        } = self;
        let mut w = Writer::default();
        w.line(HEADER, &[]);
        w.line("trigger", &[trigger]);

        let Card {
            device,
            fstype,
            mountpoint,
            iocharset,
            codepage,
            options: card_options,
            timeout,
            keep,
            keep_at,
            writes,
            flush_ms,
        } = card;
        w.line("card.device", &[&device.to_string()]);
        w.line("card.fstype", &[fstype]);
        w.line("card.mountpoint", &[&mountpoint.0]);
        w.optional("card.iocharset", iocharset.as_deref());
        w.optional("card.codepage", codepage.map(|c| c.to_string()).as_deref());
        for o in card_options {
            w.line("card.option", &[o]);
        }
        w.line("card.timeout", &[&timeout.to_string()]);
        w.line("card.keep", &[keep.word()]);
        w.line("card.keep_at", &[&keep_at.0]);
        w.line("card.writes", &[writes.word()]);
        w.line("card.flush_ms", &[&flush_ms.to_string()]);

        for c in containers {
            let Container {
                file,
                mountpoint,
                erase_size,
                label,
                options,
                base,
            } = c;
            w.line(CONTAINER, &[]);
            w.line("container.file", &[&file.0]);
            w.line("container.mountpoint", &[&mountpoint.0]);
            w.line("container.erase_size", &[&erase_size.0.to_string()]);
            w.optional("container.label", label.as_deref());
            for o in options {
                w.line("container.option", &[o]);
            }
            w.optional("container.base", base.as_ref().map(|b| b.0.as_str()));
        }
        for t in tmpfs {
            let Tmpfs { path, size, mode } = t;
            w.line(TMPFS, &[]);
            w.line("tmpfs.path", &[&path.0]);
            w.optional("tmpfs.size", size.as_deref());
            w.optional("tmpfs.mode", mode.as_deref());
        }
        for o in overlays {
            let Overlay { path, size } = o;
            w.line(OVERLAY, &[]);
            w.line("overlay.path", &[&path.0]);
            w.optional("overlay.size", size.as_deref());
        }
        for r in ramdirs {
            let RamDir {
                path,
                size,
                mode,
                owner,
                save_minutes,
            } = r;
            w.line(RAMDIR, &[]);
            w.line("ramdir.path", &[&path.0]);
            w.optional("ramdir.size", size.as_deref());
            w.optional("ramdir.mode", mode.as_deref());
            w.optional("ramdir.owner", owner.as_deref());
            w.line("ramdir.save_minutes", &[&save_minutes.to_string()]);
        }

        let Modules {
            load,
            extra,
            params,
        } = modules;
        for m in load {
            w.line("modules.load", &[m]);
        }
        for m in extra {
            w.line("modules.extra", &[m]);
        }
        for (name, value) in params {
            w.line("modules.param", &[name, value]);
        }

        let Failure { action, delay } = failure;
        w.line("failure.action", &[action.word()]);
        w.line("failure.delay", &[&delay.to_string()]);

        let Initramfs {
            compression,
            shell,
            files,
            gen_init_cpio,
        } = initramfs;
        w.line("initramfs.compression", &[compression.word()]);
        w.line("initramfs.shell", &[shell]);
        for f in files {
            w.line("initramfs.file", &[&f.source, &f.target.0]);
        }
        for l in gen_init_cpio {
            w.line("initramfs.gen_init_cpio", &[l]);
        }
        w.0
    }

    /// Reads the compact form and applies the same cross-key rules as [`Config::parse`];
    /// `file` names it in errors, which carry the line and the key.
    pub fn from_compact(file: &str, text: &str) -> Result<Self, ConfigError> {
        let config = Reader::new(file, text).read()?;
        config.check_cross_keys(file, text, &|| crate::MountSpans::default())?;
        Ok(config)
    }

    /// Reads a compact config file; errors name the file.
    pub fn load_compact(path: &std::path::Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::at(&name, "", None, "", &format!("cannot read: {e}")))?;
        Self::from_compact(&name, &text)
    }

    /// The embedded default, read from [`DEFAULT_COMPACT`] (tested to parse and to equal
    /// [`Config::embedded_default`]), for the init when no config is packed.
    pub fn embedded_default_compact() -> Self {
        Self::from_compact(crate::DEFAULT_NAME, DEFAULT_COMPACT)
            .expect("the embedded compact default is valid")
    }
}

/// The lines that start one more entry of a list of tables.
const CONTAINER: &str = "container";
const TMPFS: &str = "tmpfs";
const OVERLAY: &str = "overlay";
const RAMDIR: &str = "ramdir";

#[derive(Default)]
struct Writer(String);

impl Writer {
    fn line(&mut self, key: &str, values: &[&str]) {
        self.0.push_str(key);
        for v in values {
            self.0.push(SEPARATOR);
            escape_into(&mut self.0, v);
        }
        self.0.push('\n');
    }

    fn optional(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.line(key, &[v]);
        }
    }
}

/// The characters a value cannot hold as they are, each written as `\` and a letter.
const ESCAPES: [(char, char); 4] = [('\\', '\\'), ('\t', 't'), ('\n', 'n'), ('\r', 'r')];
const ESCAPE: char = '\\';

fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match ESCAPES.iter().find(|(raw, _)| *raw == c) {
            Some((_, letter)) => {
                out.push(ESCAPE);
                out.push(*letter);
            }
            None => out.push(c),
        }
    }
}

fn unescape(value: &str) -> Result<String, ValueError> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != ESCAPE {
            out.push(c);
            continue;
        }
        let letter = chars.next();
        match ESCAPES.iter().find(|(_, l)| Some(*l) == letter) {
            Some((raw, _)) => out.push(*raw),
            None => {
                return Err(ValueError::Escape {
                    got: letter.map_or("\\".to_string(), |l| format!("\\{l}")),
                })
            }
        }
    }
    Ok(out)
}

/// One `key<TAB>value…` line and where it starts, for errors.
struct Line<'t> {
    offset: usize,
    key: &'t str,
    values: Vec<String>,
}

struct Reader<'t> {
    file: &'t str,
    text: &'t str,
}

/// Keys every config has once; the lists' own required keys are checked per entry.
const REQUIRED: &[&str] = &[
    "trigger",
    "card.device",
    "card.fstype",
    "card.mountpoint",
    "card.timeout",
    "card.keep",
    "card.keep_at",
    "failure.action",
    "failure.delay",
    "initramfs.compression",
];
const CONTAINER_REQUIRED: &[&str] = &[
    "container.file",
    "container.mountpoint",
    "container.erase_size",
];
const TMPFS_REQUIRED: &[&str] = &["tmpfs.path"];
/// Keys that may repeat: each line appends one more value to a list.
const REPEATED: &[&str] = &[
    "card.option",
    "container.option",
    "modules.load",
    "modules.extra",
    "modules.param",
    "initramfs.file",
    "initramfs.gen_init_cpio",
];
const OVERLAY_REQUIRED: &[&str] = &["overlay.path"];
const RAMDIR_REQUIRED: &[&str] = &["ramdir.path", "ramdir.save_minutes"];

impl<'t> Reader<'t> {
    fn new(file: &'t str, text: &'t str) -> Self {
        Self { file, text }
    }

    fn error(&self, offset: Option<usize>, key: &str, message: &str) -> ConfigError {
        ConfigError::at(self.file, self.text, offset, key, message)
    }

    fn lines(&self) -> Result<Vec<Line<'t>>, ConfigError> {
        let mut lines = Vec::new();
        let mut offset = 0;
        for raw in self.text.split_inclusive('\n') {
            let start = offset;
            offset += raw.len();
            let raw = raw.strip_suffix('\n').unwrap_or(raw);
            if raw.is_empty() {
                continue;
            }
            let mut fields = raw.split(SEPARATOR);
            let key = fields.next().unwrap_or_default();
            let values = fields
                .map(unescape)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.error(Some(start), key, &e.to_string()))?;
            lines.push(Line {
                offset: start,
                key,
                values,
            });
        }
        Ok(lines)
    }

    fn read(&self) -> Result<Config, ConfigError> {
        let lines = self.lines()?;
        match lines.first() {
            Some(first) if first.key == HEADER && first.values.is_empty() => {}
            other => {
                let got = other.map_or("", |l| l.key);
                return Err(self.error(
                    Some(0),
                    "",
                    &format!(
                        "expected the header {HEADER:?} (the builder and the init must come \
                         from the same flashroot), but got {got:?}"
                    ),
                ));
            }
        }
        let mut config = blank();
        let mut seen: Vec<&str> = Vec::new();
        // Keys seen in the current list entry; its required ones are checked when it ends.
        let mut entry: Option<(&str, usize, Vec<&str>)> = None;
        for line in &lines[1..] {
            let key = line.key;
            let err = |message: String| self.error(Some(line.offset), key, &message);
            if matches!(key, CONTAINER | TMPFS | OVERLAY | RAMDIR) {
                self.finish_entry(entry.take())?;
                match key {
                    CONTAINER => config.containers.push(blank_container()),
                    TMPFS => config.tmpfs.push(blank_tmpfs()),
                    OVERLAY => config.overlays.push(blank_overlay()),
                    _ => config.ramdirs.push(blank_ramdir()),
                }
                entry = Some((key, line.offset, Vec::new()));
                continue;
            }
            let list = key.split('.').next().unwrap_or_default();
            let in_list = matches!(list, CONTAINER | TMPFS | OVERLAY | RAMDIR);
            let seen_here = match &mut entry {
                Some((name, _, seen_in_entry)) if in_list && *name == list => seen_in_entry,
                _ if in_list => {
                    return Err(err(format!("needs a bare {list:?} line before it")));
                }
                _ => &mut seen,
            };
            if !REPEATED.contains(&key) {
                if seen_here.contains(&key) {
                    return Err(err("is given twice".into()));
                }
                seen_here.push(key);
            }
            self.set_field(&mut config, line)?;
        }
        self.finish_entry(entry)?;
        if let Some(missing) = REQUIRED.iter().find(|k| !seen.contains(k)) {
            return Err(self.error(None, missing, "missing"));
        }
        Ok(config)
    }

    /// Sets the field `line` names; list entries were started by the caller.
    fn set_field(&self, c: &mut Config, line: &Line<'_>) -> Result<(), ConfigError> {
        let key = line.key;
        let err = |message: String| self.error(Some(line.offset), key, &message);
        let one = || match line.values.as_slice() {
            [v] => Ok(v.as_str()),
            _ => Err(err(format!(
                "expected one value, but got {}",
                line.values.len()
            ))),
        };
        let two = || match line.values.as_slice() {
            [a, b] => Ok((a.as_str(), b.as_str())),
            _ => Err(err(format!(
                "expected two values, but got {}",
                line.values.len()
            ))),
        };
        let number = |text: &str| -> Result<u32, ConfigError> {
            text.parse()
                .map_err(|_| err(format!("expected a number, but got {text:?}")))
        };
        let abs = |text: &str| AbsPath::new(text).map_err(|e| err(e.to_string()));
        let owned = |text: &str| text.to_string();
        match key {
            "trigger" => c.trigger = owned(one()?),
            "card.device" => {
                c.card.device = one()?
                    .parse::<DeviceRef>()
                    .map_err(|e| err(e.to_string()))?;
            }
            "card.fstype" => c.card.fstype = owned(one()?),
            "card.mountpoint" => c.card.mountpoint = abs(one()?)?,
            "card.iocharset" => c.card.iocharset = Some(owned(one()?)),
            "card.codepage" => {
                let v = one()?;
                let page = v
                    .parse()
                    .map_err(|_| err(format!("expected a code page number, but got {v:?}")))?;
                c.card.codepage = Some(page);
            }
            "card.option" => c.card.options.push(owned(one()?)),
            "card.timeout" => c.card.timeout = number(one()?)?,
            "card.keep" => c.card.keep = choice(one()?).map_err(|e| err(e.to_string()))?,
            "card.keep_at" => c.card.keep_at = abs(one()?)?,
            "card.writes" => c.card.writes = choice(one()?).map_err(|e| err(e.to_string()))?,
            "card.flush_ms" => c.card.flush_ms = number(one()?)?,
            "container.file" => {
                last(&mut c.containers).file =
                    RelPath::new(one()?).map_err(|e| err(e.to_string()))?
            }
            "container.mountpoint" => last(&mut c.containers).mountpoint = abs(one()?)?,
            "container.erase_size" => {
                last(&mut c.containers).erase_size =
                    EraseSize::check(number(one()?)?.into()).map_err(|e| err(e.to_string()))?;
            }
            "container.label" => last(&mut c.containers).label = Some(owned(one()?)),
            "container.option" => last(&mut c.containers).options.push(owned(one()?)),
            "container.base" => {
                last(&mut c.containers).base =
                    Some(RelPath::new(one()?).map_err(|e| err(e.to_string()))?)
            }
            "tmpfs.path" => last(&mut c.tmpfs).path = abs(one()?)?,
            "tmpfs.size" => last(&mut c.tmpfs).size = Some(owned(one()?)),
            "tmpfs.mode" => last(&mut c.tmpfs).mode = Some(owned(one()?)),
            "overlay.path" => last(&mut c.overlays).path = abs(one()?)?,
            "overlay.size" => last(&mut c.overlays).size = Some(owned(one()?)),
            "ramdir.path" => last(&mut c.ramdirs).path = abs(one()?)?,
            "ramdir.size" => last(&mut c.ramdirs).size = Some(owned(one()?)),
            "ramdir.mode" => last(&mut c.ramdirs).mode = Some(owned(one()?)),
            "ramdir.owner" => last(&mut c.ramdirs).owner = Some(owned(one()?)),
            "ramdir.save_minutes" => last(&mut c.ramdirs).save_minutes = number(one()?)?,
            "modules.load" => c.modules.load.push(owned(one()?)),
            "modules.extra" => c.modules.extra.push(owned(one()?)),
            "modules.param" => {
                let (name, value) = two()?;
                if c.modules.params.insert(owned(name), owned(value)).is_some() {
                    return Err(err(format!("parameters for {name:?} are given twice")));
                }
            }
            "failure.action" => {
                c.failure.action = choice(one()?).map_err(|e| err(e.to_string()))?
            }
            "failure.delay" => c.failure.delay = number(one()?)?,
            "initramfs.compression" => {
                c.initramfs.compression = choice(one()?).map_err(|e| err(e.to_string()))?;
            }
            "initramfs.shell" => c.initramfs.shell = owned(one()?),
            "initramfs.file" => {
                let (source, target) = two()?;
                c.initramfs.files.push(ExtraFile {
                    source: owned(source),
                    target: abs(target)?,
                });
            }
            "initramfs.gen_init_cpio" => c.initramfs.gen_init_cpio.push(owned(one()?)),
            _ => return Err(err("unknown key".into())),
        }
        Ok(())
    }

    /// Refuses a list entry that lacks one of its required keys.
    fn finish_entry(&self, entry: Option<(&str, usize, Vec<&str>)>) -> Result<(), ConfigError> {
        let Some((name, offset, seen)) = entry else {
            return Ok(());
        };
        let required = match name {
            CONTAINER => CONTAINER_REQUIRED,
            TMPFS => TMPFS_REQUIRED,
            OVERLAY => OVERLAY_REQUIRED,
            _ => RAMDIR_REQUIRED,
        };
        for key in required {
            let count = seen.iter().filter(|k| *k == key).count();
            if count != 1 {
                let problem = if count == 0 {
                    "missing"
                } else {
                    "is given twice"
                };
                return Err(self.error(Some(offset), key, problem));
            }
        }
        Ok(())
    }
}

fn choice<T: Word>(word: &str) -> Result<T, ValueError> {
    T::from_word(word).ok_or_else(|| ValueError::NotAChoice {
        choices: T::choices(),
        got: word.into(),
    })
}

/// The entry a `container.*`, `tmpfs.*`, `overlay.*` or `ramdir.*` line fills: the reader pushes one at
/// each bare line and refuses keys before it, so the list is never empty here.
fn last<T>(list: &mut [T]) -> &mut T {
    list.last_mut().expect("an entry was started")
}

/// Placeholders for the fields that the reader must see (it checks that it did).
fn blank() -> Config {
    Config {
        trigger: String::new(),
        card: Card {
            device: DeviceRef::Path(String::new()),
            fstype: String::new(),
            mountpoint: AbsPath(String::new()),
            iocharset: None,
            codepage: None,
            options: Vec::new(),
            timeout: 0,
            keep: KeepCard::Move,
            keep_at: AbsPath(String::new()),
            writes: CardWrites::Ordered,
            flush_ms: DEFAULT_FLUSH_MS,
        },
        containers: Vec::new(),
        tmpfs: Vec::new(),
        overlays: Vec::new(),
        ramdirs: Vec::new(),
        modules: Modules {
            load: Vec::new(),
            extra: Vec::new(),
            params: BTreeMap::new(),
        },
        failure: Failure {
            action: FailureAction::Reboot,
            delay: 0,
        },
        initramfs: Initramfs {
            compression: Compression::None,
            shell: String::new(),
            files: Vec::new(),
            gen_init_cpio: Vec::new(),
        },
    }
}

fn blank_container() -> Container {
    Container {
        file: RelPath(String::new()),
        mountpoint: AbsPath(String::new()),
        erase_size: EraseSize(0),
        label: None,
        options: Vec::new(),
        base: None,
    }
}

fn blank_tmpfs() -> Tmpfs {
    Tmpfs {
        path: AbsPath(String::new()),
        size: None,
        mode: None,
    }
}

fn blank_ramdir() -> RamDir {
    RamDir {
        path: AbsPath(String::new()),
        size: None,
        mode: None,
        owner: None,
        save_minutes: 0,
    }
}

fn blank_overlay() -> Overlay {
    Overlay {
        path: AbsPath(String::new()),
        size: None,
    }
}

#[cfg(test)]
mod tests;
