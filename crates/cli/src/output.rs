//! Every file the CLI writes goes through [`write`].
//!
//! A file is written to a new temporary file in the target folder (created
//! exclusively under a random name, so it can be no planted symlink), flushed
//! to disk, then renamed onto its name, and the folder entry is flushed too.
//! A failure at any point removes the temporary file: the target name either
//! keeps what it had or holds the complete new content, never a part. An
//! existing file (or symlink, which is replaced, never written through) is
//! replaced only under `--force`; without it the rename refuses atomically
//! when the name exists, even if it appeared while the file was being written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};

static FORCE: AtomicBool = AtomicBool::new(false);

/// Sets whether existing output files may be replaced (`--force`).
pub fn set_force(force: bool) {
    FORCE.store(force, Ordering::SeqCst);
}

fn force() -> bool {
    FORCE.load(Ordering::SeqCst)
}

/// Creates the output folder `dir` (and its parents) if needed.
pub fn dir(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// Writes `contents` to `path` as described in the module documentation.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    write_with(path, contents.as_ref(), force())
}

fn write_with(path: &Path, contents: &[u8], force: bool) -> anyhow::Result<()> {
    let mut f = Streamed::create_with(path, force)?;
    f.write_all(contents)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.finish()
}

/// An output file written piece by piece (e.g. observations streamed during a run): a
/// temporary file in the target folder until [`Streamed::finish`] puts it in place exactly as
/// [`write`] does; dropped without `finish` (an error, a cancelled run), it leaves nothing.
pub struct Streamed {
    path: PathBuf,
    folder: PathBuf,
    force: bool,
    out: std::io::BufWriter<tempfile::NamedTempFile>,
}

impl Streamed {
    /// Starts the output file `path` (refused at once if it exists and `--force` is not given).
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        Self::create_with(path, force())
    }

    /// [`Streamed::create`] for a file readable by its owner only (a database backup: it holds
    /// token and password hashes), whatever the umask.
    pub fn create_private(path: &Path) -> anyhow::Result<Self> {
        Self::create_mode(path, force(), 0o600)
    }

    /// The temporary file being written (for a writer that needs a path, e.g. SQLite's
    /// `VACUUM INTO`, which fills the empty file); it is put in place by [`Streamed::finish`].
    pub fn temp_path(&self) -> &Path {
        self.out.get_ref().path()
    }

    fn create_with(path: &Path, force: bool) -> anyhow::Result<Self> {
        // as a plain create would (the umask still applies)
        Self::create_mode(path, force, 0o666)
    }

    fn create_mode(path: &Path, force: bool, mode: u32) -> anyhow::Result<Self> {
        let name = path
            .file_name()
            .with_context(|| format!("{} names no file", path.display()))?;
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !force && std::fs::symlink_metadata(path).is_ok() {
            bail!(
                "{} exists; pass --force to replace it (or write into a new folder)",
                path.display()
            );
        }
        let prefix = format!(".{}.", name.to_string_lossy());
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        #[cfg(not(unix))]
        let _ = mode;
        let tmp = builder
            .tempfile_in(folder)
            .with_context(|| format!("cannot create a temporary file in {}", folder.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            folder: folder.to_path_buf(),
            force,
            out: std::io::BufWriter::new(tmp),
        })
    }

    /// The file's final name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file to disk and renames it onto its name (without `--force`, refusing
    /// atomically if the name has appeared meanwhile), then flushes the folder entry.
    pub fn finish(self) -> anyhow::Result<()> {
        let path = self.path;
        let tmp = self
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", path.display()))?;
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("cannot write {}", path.display()))?;
        if self.force {
            tmp.persist(&path)
                .map_err(|e| e.error)
                .with_context(|| format!("cannot write {}", path.display()))?;
        } else {
            tmp.persist_noclobber(&path).map_err(|e| {
                let exists = e.error.kind() == std::io::ErrorKind::AlreadyExists;
                anyhow::Error::new(e.error).context(if exists {
                    format!(
                        "{} exists; pass --force to replace it (or write into a new folder)",
                        path.display()
                    )
                } else {
                    format!("cannot write {}", path.display())
                })
            })?;
        }
        // the rename itself must survive a crash: flush the folder entry
        if let Ok(d) = std::fs::File::open(&self.folder) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Write for Streamed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Refuses at once, before anything is written, when one of several files that make up one
/// output set exists and `--force` is not given, so that a refused run leaves no partial set.
pub fn check_new(paths: &[PathBuf]) -> anyhow::Result<()> {
    if force() {
        return Ok(());
    }
    if let Some(p) = paths.iter().find(|p| std::fs::symlink_metadata(p).is_ok()) {
        bail!(
            "{} exists; pass --force to replace it (or write into a new folder)",
            p.display()
        );
    }
    Ok(())
}

/// Checks that files can be created in `dir` (by creating and removing a temporary one), so
/// that an output folder that cannot be written is reported before a long run.
pub fn check_writable(dir: &Path) -> anyhow::Result<()> {
    tempfile::Builder::new()
        .prefix(".atmpflow-write-check.")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write to the output directory {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_whole_files_and_replaces_only_when_forced() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("out.json");
        write_with(&p, b"one", false).expect("new file");
        assert_eq!(std::fs::read(&p).expect("read"), b"one");
        let e = write_with(&p, b"two", false).expect_err("exists");
        assert!(format!("{e:#}").contains("--force"), "{e:#}");
        assert_eq!(std::fs::read(&p).expect("read"), b"one");
        write_with(&p, b"two", true).expect("forced");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        // no temporary file is left behind
        assert_eq!(names(d.path()), ["out.json"]);
    }

    #[cfg(unix)]
    #[test]
    fn never_writes_through_a_symlink() {
        let d = tempfile::tempdir().expect("tempdir");
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"precious").expect("victim");
        let p = d.path().join("out.json");
        std::os::unix::fs::symlink(&victim, &p).expect("symlink");
        assert!(write_with(&p, b"new", false).is_err());
        write_with(&p, b"new", true).expect("the link is replaced");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
        assert_eq!(std::fs::read(&p).expect("read"), b"new");
        assert!(
            !std::fs::symlink_metadata(&p)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        // a planted link at the old fixed temporary name does not matter
        let q = d.path().join("r.json");
        std::os::unix::fs::symlink(&victim, d.path().join("r.partial")).expect("symlink");
        write_with(&q, b"r", false).expect("write");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
    }

    #[test]
    fn a_streamed_file_appears_only_when_finished() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("obs.csv");
        let mut f = Streamed::create_with(&p, false).expect("create");
        f.write_all(b"a,b\n").expect("write");
        assert!(!p.exists(), "not in place before finish");
        f.finish().expect("finish");
        assert_eq!(std::fs::read(&p).expect("read"), b"a,b\n");
        // dropped without finish (a failed or cancelled run): nothing is left
        let q = d.path().join("other.csv");
        let mut g = Streamed::create_with(&q, false).expect("create");
        g.write_all(b"x").expect("write");
        drop(g);
        assert_eq!(names(d.path()), ["obs.csv"]);
        // an existing name is refused before anything is written
        assert!(Streamed::create_with(&p, false).is_err());
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let d = tempfile::tempdir().expect("tempdir");
        // the folder does not exist: nothing is created anywhere
        let p = d.path().join("missing").join("out.json");
        assert!(write_with(&p, b"x", false).is_err());
        assert!(names(d.path()).is_empty());
    }
}
