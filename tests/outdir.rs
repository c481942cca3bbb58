//! The output boundary of `--patches DIR` and `probes --out DIR`: names from the input never
//! leave DIR, links in DIR are never followed, the files of a previous run are replaced (and only
//! those), a directory netpol-fix did not write is refused, and `--patches` refuses input with
//! errors as `--write` does. Each test checks every file under a temporary root afterwards.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use netpol_fix::check::CheckOptions;
use netpol_fix::fix::{apply::fix_all, output::write_patches};
use netpol_fix::load::Input;
use netpol_fix::outdir::{MANIFEST, name_part};

/// A Deployment whose egress a default deny blocks: one new policy under `--patches`, one DNS
/// probe under `probes`.
const WORLD: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: ghcr.io/example/web:1.0.0
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: shop
spec:
  podSelector: {}
  policyTypes:
  - Ingress
  - Egress
";

fn netpol_fix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netpol-fix"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Every entry under `root` (relative path → `L:target` for a link, `D` for a directory, else
/// the bytes as text), links not followed.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.insert(rel, format!("L:{}", target.display()));
            } else if meta.is_dir() {
                out.insert(rel, "D".into());
                walk(root, &path, out);
            } else {
                out.insert(
                    rel,
                    String::from_utf8_lossy(&fs::read(&path).unwrap()).into(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A temporary root with `src/world.yaml`; returns it and the source path.
fn root() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("src")).unwrap();
    fs::write(tmp.path().join("src/world.yaml"), WORLD).unwrap();
    let src = tmp.path().join("src").to_str().unwrap().to_string();
    (tmp, src)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Item 1. The loader refuses invalid namespaces and names, so hostile ones cannot reach the
/// sink through the binary: `write_patches` is called directly with them, and must stay in DIR.
#[test]
fn patch_file_names_from_hostile_names_stay_inside_the_directory() {
    let (tmp, src) = root();
    let r = tmp.path();
    let mut outcome = fix_all(
        &[Input::Path(format!("{src}/world.yaml").into())],
        &CheckOptions::default(),
        false,
    );
    let abs = r.join("abs").to_str().unwrap().to_string();
    outcome.documents = vec![
        // First: without the escaping, this one lands at `<root>/abs-x.yaml`.
        (abs, "x".into(), "two\n".into()),
        ("../..".into(), "../escaped".into(), "one\n".into()),
        ("a/b".into(), "c".into(), "three\n".into()),
        ("a%2fb".into(), "c".into(), "four\n".into()),
        ("".into(), "..".into(), "five\n".into()),
    ];
    outcome.patches.clear();
    outcome.unpatchable.clear();
    let dir = r.join("out");
    // Checked after the tree, so that a failure shows what landed where.
    let result = write_patches(&dir, &outcome);
    let esc_abs = name_part(r.join("abs").to_str().unwrap());
    assert!(esc_abs.starts_with("%2f") && !esc_abs.contains('/'));
    let mut expected: BTreeMap<String, String> = [
        ("src", "D"),
        ("src/world.yaml", WORLD),
        ("out", "D"),
        ("out/..%2f..-..%2fescaped.yaml", "one\n"),
        ("out/a%2fb-c.yaml", "three\n"),
        ("out/a%252fb-c.yaml", "four\n"),
        ("out/%-%2e%2e.yaml", "five\n"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    expected.insert(format!("out/{esc_abs}-x.yaml"), "two\n".into());
    let resources = [
        "%-%2e%2e.yaml".to_string(),
        "..%2f..-..%2fescaped.yaml".into(),
        format!("{esc_abs}-x.yaml"),
        "a%252fb-c.yaml".into(),
        "a%2fb-c.yaml".into(),
    ];
    let mut sorted = resources.clone();
    sorted.sort();
    let mut kustomization = String::from(
        "# Generated by netpol-fix: the fixes for the flows enforcement would break.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for f in &sorted {
        kustomization.push_str(&format!("- {f}\n"));
    }
    expected.insert("out/kustomization.yaml".into(), kustomization);
    let manifest: String = [
        format!("{esc_abs}-x.yaml"),
        "..%2f..-..%2fescaped.yaml".into(),
        "a%2fb-c.yaml".into(),
        "a%252fb-c.yaml".into(),
        "%-%2e%2e.yaml".into(),
        "kustomization.yaml".into(),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect();
    expected.insert(format!("out/{MANIFEST}"), manifest);
    assert_eq!(tree(r), expected);
    let written = result.unwrap();
    assert!(written.iter().all(|p| p.starts_with(&dir)), "{written:?}");
}

/// Item 2. A link planted in a directory netpol-fix did not write: refused, nothing followed.
#[cfg(unix)]
#[test]
fn patches_refuse_a_directory_they_did_not_write_and_never_follow_its_links() {
    let (tmp, src) = root();
    let r = tmp.path();
    fs::write(r.join("victim"), "victim\n").unwrap();
    fs::create_dir(r.join("out")).unwrap();
    std::os::unix::fs::symlink("../victim", r.join("out/kustomization.yaml")).unwrap();
    let before = tree(r);
    let out = netpol_fix(&[&src, "--patches", r.join("out").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("holds files netpol-fix did not write"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree(r), before);

    // DIR itself a link (to an empty directory): refused, nothing written behind it.
    fs::create_dir(r.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("elsewhere", r.join("linked")).unwrap();
    let before = tree(r);
    let out = netpol_fix(&[&src, "--patches", r.join("linked").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a symlink"), "{}", stderr(&out));
    assert_eq!(tree(r), before);
}

/// Item 2. A second run into a probe directory replaces links instead of following them (no
/// write or chmod on their targets), removes the stale Jobs of the first run, and only those.
#[cfg(unix)]
#[test]
fn probes_rerun_replaces_links_and_removes_only_the_files_it_wrote() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let (tmp, src) = root();
    let r = tmp.path();
    let dir = r.join("probes");
    let out = netpol_fix(&["probes", &src, "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = tree(r);
    let jobs: Vec<&String> = first
        .keys()
        .filter(|k| k.starts_with("probes/jobs/"))
        .collect();
    assert_eq!(jobs, ["probes/jobs/shop--probe-1-web-dns.yaml"]);
    assert!(first[&format!("probes/{MANIFEST}")].contains("jobs/shop--probe-1-web-dns.yaml\n"));

    // A stale Job of an earlier run (listed), a file someone else put there (not listed), and
    // links where netpol-fix writes.
    fs::write(r.join("victim"), "victim\n").unwrap();
    fs::set_permissions(r.join("victim"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(dir.join("jobs/old--probe-9-gone-dns.yaml"), "stale\n").unwrap();
    let mut manifest = fs::read_to_string(dir.join(MANIFEST)).unwrap();
    manifest.push_str("jobs/old--probe-9-gone-dns.yaml\n");
    fs::write(dir.join(MANIFEST), manifest).unwrap();
    fs::write(dir.join("notes.txt"), "mine\n").unwrap();
    fs::remove_file(dir.join("run-probes.sh")).unwrap();
    symlink("../victim", dir.join("run-probes.sh")).unwrap();
    fs::remove_file(dir.join("probes.tsv")).unwrap();
    symlink("../victim", dir.join("probes.tsv")).unwrap();

    let out = netpol_fix(&["probes", &src, "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut expected = first.clone();
    expected.insert("victim".into(), "victim\n".into());
    expected.insert("probes/notes.txt".into(), "mine\n".into());
    assert_eq!(tree(r), expected);
    let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&r.join("victim")), 0o600);
    assert_eq!(mode(&dir.join("run-probes.sh")), 0o755);
}

/// Item 2. A manifest cannot make netpol-fix remove anything outside DIR: not a path leaving
/// it, not a file behind a linked subdirectory.
#[cfg(unix)]
#[test]
fn a_forged_manifest_removes_nothing_outside_the_directory() {
    let (tmp, src) = root();
    let r = tmp.path();
    let dir = r.join("probes");
    fs::create_dir_all(r.join("outside")).unwrap();
    fs::write(r.join("outside/x.yaml"), "keep\n").unwrap();
    fs::write(r.join("victim"), "victim\n").unwrap();
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join(MANIFEST), "../victim\n").unwrap();
    let before = tree(r);
    let out = netpol_fix(&["probes", &src, "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a plain file name"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree(r), before);

    fs::write(dir.join(MANIFEST), "jobs/x.yaml\n").unwrap();
    std::os::unix::fs::symlink("../outside", dir.join("jobs")).unwrap();
    let out = netpol_fix(&["probes", &src, "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a symlink"), "{}", stderr(&out));
    let after = tree(r);
    assert_eq!(after["outside/x.yaml"], "keep\n");
    assert_eq!(after["victim"], "victim\n");
    assert_eq!(
        after.keys().filter(|k| k.starts_with("outside")).count(),
        2,
        "{after:?}"
    );
    assert_eq!(
        after
            .keys()
            .filter(|k| !k.starts_with("probes"))
            .collect::<Vec<_>>(),
        before
            .keys()
            .filter(|k| !k.starts_with("probes"))
            .collect::<Vec<_>>()
    );
}

/// Item 8. `--patches` refuses input with errors as `--write` does: the diagnostics on stderr,
/// nothing written.
#[test]
fn patches_refuse_input_with_errors_and_say_why() {
    let (tmp, src) = root();
    let r = tmp.path();
    fs::write(r.join("src/broken.yaml"), "kind: [unclosed\n").unwrap();
    let before = tree(r);
    let out = netpol_fix(&[&src, "--patches", r.join("out").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("broken.yaml:"), "{err}");
    assert!(
        err.contains("nothing was written because the input has errors"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(tree(r), before);
}
