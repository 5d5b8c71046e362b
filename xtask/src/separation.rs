//! Each hypervisor image compiles only its own back end: the x86_64 build
//! none of `src/arch/aarch64` (the GIC and PL011 models, the ESR decoder),
//! the AArch64 build none of `src/arch/x86_64` (the 16550 model, VMX).
//!
//! The proof is the compiler's own list of the source files it read
//! (`--emit=dep-info`), for each architecture.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::tools::cargo;

/// A hypervisor build to look at: its target, the config it builds with,
/// and the back end folder it must not read.
pub struct Build {
    /// The target triple.
    pub triple: &'static str,
    /// `BULKHEAD_CONFIG` for the build.
    pub config: &'static str,
    /// Source folder (from the workspace root) the build must not read.
    pub foreign: &'static str,
    /// Source folder it must read (its own back end).
    pub own: &'static str,
}

/// The two hypervisor builds.
pub const BUILDS: [Build; 2] = [
    Build {
        triple: "aarch64-unknown-none-softfloat",
        config: "configs/qemu-virt-demo.toml",
        foreign: "src/arch/x86_64/",
        own: "src/arch/aarch64/",
    },
    Build {
        triple: "x86_64-unknown-none",
        config: "configs/bochs-demo.toml",
        foreign: "src/arch/aarch64/",
        own: "src/arch/x86_64/",
    },
];

/// The source files a dep-info file lists (its first rule's prerequisites),
/// relative to `root` where they lie under it.
pub fn sources(dep_info: &str, root: &Path) -> Vec<String> {
    let root = format!("{}/", root.display());
    let Some(first) = dep_info.lines().find(|line| line.contains(": ")) else {
        return Vec::new();
    };
    let (_, prerequisites) = first.split_once(": ").unwrap_or_default();
    prerequisites
        .split_whitespace()
        .map(|file| file.strip_prefix(&root).unwrap_or(file).to_string())
        .collect()
}

/// What a build's sources say: its own back end's files, and any foreign
/// ones (a failure).
pub fn judge(build: &Build, sources: &[String]) -> Result<String, String> {
    let own = sources.iter().filter(|f| f.starts_with(build.own)).count();
    let foreign: Vec<&String> = sources
        .iter()
        .filter(|f| f.starts_with(build.foreign))
        .collect();
    if !foreign.is_empty() {
        let mut message = format!(
            "the {} hypervisor compiles {} file(s) of {}:",
            build.triple,
            foreign.len(),
            build.foreign
        );
        for file in foreign {
            let _ = write!(message, "\n  {file}");
        }
        return Err(message);
    }
    if own == 0 {
        return Err(format!(
            "the {} hypervisor's source list names none of {}: the check reads the wrong file",
            build.triple, build.own
        ));
    }
    Ok(format!(
        "{}: {} source files, {own} of them in {}, none in {}",
        build.triple,
        sources.len(),
        build.own,
        build.foreign
    ))
}

/// Runs the check for both builds (`cargo rustc --emit=dep-info`, no
/// code generated) and prints what each compiles.
pub fn check(root: &Path) -> Result<()> {
    let out = root.join("target/separation");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for build in &BUILDS {
        let dep_info = out.join(format!("{}.d", build.triple));
        let status = cargo()
            .args(["rustc", "--quiet", "-p", "bulkhead", "--lib", "--target"])
            .arg(build.triple)
            .arg("--")
            .arg(format!("--emit=dep-info={}", dep_info.display()))
            .env("BULKHEAD_CONFIG", build.config)
            .current_dir(root)
            .status()
            .context("cannot run cargo rustc")?;
        if !status.success() {
            bail!("cargo rustc for {} failed ({status})", build.triple);
        }
        let text = std::fs::read_to_string(&dep_info)
            .with_context(|| format!("reading {}", dep_info.display()))?;
        match judge(build, &sources(&text, root)) {
            Ok(line) => eprintln!("{line}"),
            Err(message) => bail!("{message}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP_INFO: &str = "/w/target/x/libbulkhead.rmeta: /w/src/lib.rs /w/src/arch/mod.rs \
/w/src/arch/x86_64/mod.rs /w/src/arch/x86_64/vmx.rs\n\n/w/src/lib.rs:\n";

    #[test]
    fn sources_are_the_first_rules_prerequisites_relative_to_the_root() {
        let files = sources(DEP_INFO, Path::new("/w"));
        assert_eq!(
            files,
            [
                "src/lib.rs",
                "src/arch/mod.rs",
                "src/arch/x86_64/mod.rs",
                "src/arch/x86_64/vmx.rs"
            ]
        );
    }

    #[test]
    fn a_foreign_back_end_file_fails_and_an_empty_own_list_too() {
        let x86 = &BUILDS[1];
        let files = sources(DEP_INFO, Path::new("/w"));
        assert!(
            judge(x86, &files)
                .unwrap()
                .contains("2 of them in src/arch/x86_64/")
        );
        let mut mixed = files.clone();
        mixed.push("src/arch/aarch64/gic.rs".into());
        let error = judge(x86, &mixed).unwrap_err();
        assert!(error.contains("1 file(s) of src/arch/aarch64/"), "{error}");
        assert!(
            judge(&BUILDS[0], &files).is_err(),
            "aarch64 build reading x86 files"
        );
        assert!(judge(x86, &["src/lib.rs".into()]).is_err(), "no own files");
    }
}
