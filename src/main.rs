//! The `netpol-fix` command line: parses arguments, runs the library, renders, sets the exit code.

mod progress;

use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use netpol_fix::analysis::Analysis;
use netpol_fix::check::{CheckOptions, check};
use netpol_fix::connectivity::{Enforcement, Engine};
use netpol_fix::diag::Severity;
use netpol_fix::endpoint;
use netpol_fix::fix;
use netpol_fix::load::Input;
use netpol_fix::net::Protocol;
use netpol_fix::probes::ProbeOptions;
use netpol_fix::report::{self, explain, findings, graph::GraphFormat, readiness};

/// jemalloc (see BENCHMARKS.md): the parallel load allocates millions of small nodes, and
/// glibc's arenas spent a fifth of the run in malloc/free; mimalloc was as fast but kept 5–7%
/// more memory at the peak.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read before `main`: pages freed by one phase (the loading threads'
/// scratch, the compilers' selections) go back to the system within a second instead of ten,
/// so they do not add to the peak of a later phase that allocates in other arenas. A large
/// tree's peak RSS drops by a twentieth, at the same speed.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 20] = b"dirty_decay_ms:1000\0";

/// Exit codes: 0 clean, 1 findings (or a denied flow for `explain`), 2 input or usage errors.
const EXIT_FINDINGS: u8 = 1;
const EXIT_ERROR: u8 = 2;

#[derive(Parser)]
#[command(
    name = "netpol-fix",
    about = "Find and fix Kubernetes NetworkPolicy problems before a CNI starts enforcing them",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: `check`.
    #[command(flatten)]
    check: CheckArgs,
}

#[derive(clap::Args, Clone)]
struct CheckArgs {
    /// Manifest files or directories; `-` reads stdin.
    #[arg(default_value = ".")]
    paths: Vec<String>,
    #[arg(long, value_enum, default_value_t = findings::Format::Human)]
    format: findings::Format,
    /// Only these rules (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    select: Vec<String>,
    /// Not these rules (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    ignore: Vec<String>,
    /// Exit 0 even when findings remain (input errors still exit 2).
    #[arg(long)]
    exit_zero: bool,
    /// Configuration file (default: netpol-fix.yaml in the first directory given).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A directory of additional rules (repeatable).
    #[arg(long = "rules")]
    rule_dirs: Vec<PathBuf>,
    /// Print the fixes as a unified diff; write nothing (exit 1 when the diff is not empty).
    #[arg(long, conflicts_with_all = ["write", "patches"])]
    diff: bool,
    /// Apply the fixes in place, then report what remains.
    #[arg(long, conflicts_with = "patches")]
    write: bool,
    /// Also apply fixes that guess (e.g. an API server address nobody configured).
    #[arg(long)]
    unsafe_fixes: bool,
    /// Write the fixes as kustomize-ready files into DIR instead of editing the sources.
    #[arg(long, value_name = "DIR")]
    patches: Option<PathBuf>,
    /// Print the time of each phase and the counters behind it on stderr.
    #[arg(long)]
    timings: bool,
    /// Analyse the whole tree at DIR but report (and fix) only what concerns the PATHs: findings
    /// in them or pointing into them, and their input errors. For pre-commit, which passes the
    /// changed files.
    #[arg(long, value_name = "DIR")]
    tree: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Find the flows that break once NetworkPolicy is enforced (the default command).
    Check(CheckArgs),
    /// List the rules, or explain one.
    Rules {
        id: Option<String>,
        #[arg(long, value_enum, default_value_t = report::rules::Format::Human)]
        format: report::rules::Format,
        /// A directory of additional rules (repeatable).
        #[arg(long = "rules")]
        rule_dirs: Vec<PathBuf>,
    },
    /// Explain whether one flow is allowed, and by which policies.
    Explain {
        /// Manifest files or directories; `-` reads stdin.
        #[arg(default_value = ".")]
        paths: Vec<String>,
        /// Source: namespace/name, namespace/Kind/name, or an IP address.
        #[arg(long)]
        from: String,
        /// Destination: namespace/name, namespace/Kind/name, or an IP address.
        #[arg(long)]
        to: String,
        #[arg(long)]
        port: u16,
        #[arg(long, default_value = "TCP", value_parser = parse_protocol)]
        protocol: Protocol,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Human)]
        format: ExplainFormat,
        /// What enforces policy: none (Flannel, today), kubernetes (NetworkPolicy only), or
        /// calico (NetworkPolicy and Calico's policies).
        #[arg(long, value_enum, default_value_t = Enforcement::Calico)]
        enforcement: Enforcement,
    },
    /// The migration readiness report: CNI, isolation, LoadBalancers, hardcoded addresses, DNS
    /// and API access, every implied flow today vs enforced, external access, the fix plan and
    /// cleanup hazards.
    Report {
        /// Manifest files or directories; `-` reads stdin.
        #[arg(default_value = ".")]
        paths: Vec<String>,
        #[arg(long, value_enum, default_value_t = readiness::Format::Markdown)]
        format: readiness::Format,
    },
    /// Write a Kubernetes Job per required flow (DNS, Services, API server) that tests it from
    /// the client's namespace with its labels once policies are enforced, and a script that runs
    /// them and prints expected against actual.
    Probes {
        /// Manifest files or directories; `-` reads stdin.
        #[arg(default_value = ".")]
        paths: Vec<String>,
        /// Directory for `jobs/`, `probes.tsv` and `run-probes.sh`.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        options: ProbeOptions,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), generated from this command line.
    Man,
    /// List every allowed connection between workloads and external address ranges.
    Graph {
        /// Manifest files or directories; `-` reads stdin.
        #[arg(default_value = ".")]
        paths: Vec<String>,
        #[arg(long, value_enum, default_value_t = GraphFormat::Txt)]
        format: GraphFormat,
        /// What enforces policy: none (Flannel, today), kubernetes (NetworkPolicy only), or
        /// calico (NetworkPolicy and Calico's policies).
        #[arg(long, value_enum, default_value_t = Enforcement::Calico)]
        enforcement: Enforcement,
        /// Print the time of each phase and the counters behind it on stderr.
        #[arg(long)]
        timings: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExplainFormat {
    Human,
    Json,
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    Protocol::parse(s).ok_or_else(|| format!("unknown protocol `{s}`: use TCP, UDP or SCTP"))
}

/// The command line definition, with `--version` naming the built-in rule set's version too.
fn cli_definition() -> clap::Command {
    Cli::command().version(format!(
        "{} (rules {})",
        env!("CARGO_PKG_VERSION"),
        netpol_fix::lint::catalog::RULES_VERSION
    ))
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&cli_definition().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn inputs(paths: &[String]) -> io::Result<Vec<Input>> {
    paths
        .iter()
        .map(|p| {
            if p == "-" {
                // At most the default file size limit (and one byte more, for the loader to say
                // that it is over): `yes | netpol-fix check -` must not grow until it is killed.
                let limit = netpol_fix::yaml::Limits::default().max_file_bytes;
                let mut bytes = Vec::new();
                io::stdin().take(limit + 1).read_to_end(&mut bytes)?;
                Ok(Input::Stdin(bytes.into()))
            } else {
                Ok(Input::Path(PathBuf::from(p)))
            }
        })
        .collect()
}

/// Loads the inputs (with the loader settings of `netpol-fix.yaml` in the first directory) and
/// prints input diagnostics on stderr.
fn load(paths: &[String]) -> io::Result<Analysis> {
    let options = CheckOptions {
        config_root: paths.first().map(PathBuf::from).filter(|p| p.is_dir()),
        ..CheckOptions::default()
    };
    let analysis = netpol_fix::check::analyze_configured(&inputs(paths)?, &options);
    let mut err = io::stderr().lock();
    report::write_diagnostics(&mut err, &analysis.sources, &analysis.diagnostics)?;
    Ok(analysis)
}

/// A check that records the implied flows (`report`, `probes`), with the configuration of the
/// first directory; input errors go to stderr.
fn flow_check(paths: &[String]) -> io::Result<netpol_fix::check::CheckRun> {
    let options = CheckOptions {
        config_root: paths.first().map(PathBuf::from).filter(|p| p.is_dir()),
        record_flows: true,
        ..CheckOptions::default()
    };
    let run = check(&inputs(paths)?, &options);
    let errors: Vec<_> = run.analysis.errors().cloned().collect();
    report::write_diagnostics(&mut io::stderr().lock(), &run.analysis.sources, &errors)?;
    Ok(run)
}

fn run(cli: Cli) -> io::Result<u8> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let command = cli.command.unwrap_or(Command::Check(cli.check));
    let code = match command {
        Command::Check(args) => run_check(&mut out, args)?,
        Command::Rules {
            id,
            format,
            rule_dirs,
        } => {
            let options = CheckOptions {
                rule_dirs,
                ..CheckOptions::default()
            };
            let run = check(&[], &options);
            report::write_diagnostics(
                &mut io::stderr().lock(),
                &run.analysis.sources,
                &run.analysis.diagnostics,
            )?;
            match id {
                None => report::rules::write_list(&mut out, &run.catalog, format)?,
                Some(id) => match run.rule(&id) {
                    Some(rule) => report::rules::write_rule(&mut out, rule, format)?,
                    None => {
                        eprintln!("error: no rule `{id}` (list them with `netpol-fix rules`)");
                        return Ok(EXIT_ERROR);
                    }
                },
            }
            if run.analysis.has_errors() {
                EXIT_ERROR
            } else {
                0
            }
        }
        Command::Explain {
            paths,
            from,
            to,
            port,
            protocol,
            format,
            enforcement,
        } => {
            let analysis = load(&paths)?;
            let engine = Engine::configured(&analysis.world, &[], enforcement);
            let (src, dst) = match (
                endpoint::resolve(&analysis.world, &from),
                endpoint::resolve(&analysis.world, &to),
            ) {
                (Ok(s), Ok(d)) => (s, d),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("error: {e}");
                    return Ok(EXIT_ERROR);
                }
            };
            let flow = explain::Flow {
                src,
                dst,
                protocol,
                port,
            };
            let verdict = engine.verdict(src, dst, protocol, port);
            match format {
                ExplainFormat::Human => {
                    {
                        // Names in the explanation come from the input: escaped for the terminal.
                        let mut text = Vec::new();
                        explain::write_human(
                            &mut text,
                            &engine,
                            &analysis.sources,
                            &flow,
                            &verdict,
                        )?;
                        let text = String::from_utf8_lossy(&text);
                        out.write_all(report::escape::terminal_lines(&text).as_bytes())?
                    }
                }
                ExplainFormat::Json => {
                    serde_json::to_writer_pretty(
                        &mut out,
                        &explain::to_json(&engine, &analysis.sources, &flow, &verdict),
                    )?;
                    writeln!(out)?;
                }
            }
            if analysis.has_errors() {
                EXIT_ERROR
            } else if verdict.allowed() {
                0
            } else {
                EXIT_FINDINGS
            }
        }
        Command::Report { paths, format } => {
            let run = flow_check(&paths)?;
            readiness::write(&mut out, &readiness::build(&run), format)?;
            if run.analysis.has_errors() {
                EXIT_ERROR
            } else {
                0
            }
        }
        Command::Probes {
            paths,
            out: dir,
            options,
        } => {
            let run = flow_check(&paths)?;
            if run.analysis.has_errors() {
                eprintln!("error: no probes for input with errors: expectations would be wrong");
                return Ok(EXIT_ERROR);
            }
            let count = netpol_fix::probes::write(&run, &dir, &options)?;
            eprintln!(
                "wrote {count} probes to {}; run {}/run-probes.sh after the migration",
                dir.display(),
                dir.display()
            );
            0
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut cli_definition(), "netpol-fix", &mut out);
            0
        }
        Command::Man => {
            clap_mangen::Man::new(cli_definition()).render(&mut out)?;
            0
        }
        Command::Graph {
            paths,
            format,
            enforcement,
            timings: show_timings,
        } => {
            let analysis = load(&paths)?;
            let skipped = report::Skipped::all(&analysis);
            let mut timings = analysis.timings.clone();
            let engine = timings.phase("classes and selectors", || {
                Engine::configured(&analysis.world, &[], enforcement)
            });
            let count = timings.phase("listing", || {
                report::graph::write_graph(&mut out, &engine, format, &skipped)
            })?;
            timings.count("classes", engine.classes.classes.len() as u64);
            timings.count("distinct selectors", engine.distinct_selectors as u64);
            timings.count("connections", count);
            if show_timings {
                out.flush()?;
                eprint!("{timings}");
            }
            if io::stderr().is_terminal() {
                eprintln!(
                    "{count} allowed connections among {} workloads",
                    analysis.world.workloads.len()
                );
            }
            if analysis.has_errors() { EXIT_ERROR } else { 0 }
        }
    };
    out.flush()?;
    Ok(code)
}

fn run_check(out: &mut dyn Write, args: CheckArgs) -> io::Result<u8> {
    let (analysed, scope) = match &args.tree {
        Some(tree) => {
            let mut scope = Vec::new();
            for path in &args.paths {
                match std::fs::canonicalize(path) {
                    Ok(p) => scope.push(p),
                    Err(e) => {
                        eprintln!(
                            "error: {path}: {e} (with --tree, the paths select what to report)"
                        );
                        return Ok(EXIT_ERROR);
                    }
                }
            }
            (vec![tree.display().to_string()], Some(scope))
        }
        None => (args.paths.clone(), None),
    };
    let first_dir = analysed.first().map(PathBuf::from).filter(|p| p.is_dir());
    let options = CheckOptions {
        config: args.config.clone(),
        config_root: first_dir,
        rule_dirs: args.rule_dirs.clone(),
        select: args.select.clone(),
        ignore: args.ignore.clone(),
        overrides: Default::default(),
        scope,
        progress: None,
        record_flows: false,
    };
    let inputs = inputs(&analysed)?;
    if args.write && args.paths.iter().any(|p| p == "-") {
        eprintln!("error: stdin cannot be written; use --diff to see the fixes");
        return Ok(EXIT_ERROR);
    }
    if args.diff || args.write || args.patches.is_some() {
        let outcome = fix::apply::fix_all(&inputs, &options, args.unsafe_fixes);
        for problem in &outcome.problems {
            eprintln!("warning: {problem}");
        }
        if args.diff {
            // Patch tools pass over text before the first file header: what was not analysed
            // leads the diff, so that it is never only on stderr.
            for skipped in report::Skipped::all(&outcome.run.analysis) {
                writeln!(out, "{}", skipped.comment("#"))?;
            }
            fix::output::write_diff(out, &outcome)?;
            report::write_diagnostics(
                &mut io::stderr().lock(),
                &outcome.run.analysis.sources,
                &outcome.run.analysis.diagnostics,
            )?;
            return Ok(if outcome.run.analysis.has_errors() {
                EXIT_ERROR
            } else if outcome.changed.is_empty() {
                0
            } else {
                EXIT_FINDINGS
            });
        }
        if outcome.run.analysis.has_errors() {
            report::write_diagnostics(
                &mut io::stderr().lock(),
                &outcome.run.analysis.sources,
                &outcome.run.analysis.diagnostics,
            )?;
            eprintln!(
                "error: nothing was written because the input has errors (a fix computed on it could be wrong); fix them first, or see the fixes with --diff"
            );
            return Ok(EXIT_ERROR);
        }
        if let Some(dir) = &args.patches {
            let written = fix::output::write_patches(dir, &outcome)?;
            eprintln!(
                "wrote {} files to {} (sources untouched)",
                written.len(),
                dir.display()
            );
            return Ok(0);
        }
        let roots: Vec<PathBuf> = analysed.iter().map(PathBuf::from).collect();
        let refused = fix::output::write_in_place(&outcome, &roots);
        if !refused.is_empty() {
            for r in &refused {
                eprintln!("error: {r}");
            }
            return Ok(EXIT_ERROR);
        }
        eprintln!(
            "applied {} fixes to {} files",
            outcome.applied.len(),
            outcome.changed.len()
        );
        let code = report_findings(out, &outcome.run, &args)?;
        return Ok(code);
    }
    let (progress, ticker) = progress::start();
    let run = check(
        &inputs,
        &CheckOptions {
            progress,
            ..options
        },
    );
    drop(ticker);
    let mut timings = run.analysis.timings.clone();
    let code = timings.phase("report", || report_findings(out, &run, &args))?;
    // The process ends here: freeing a large model piece by piece only costs time.
    std::mem::forget(run);
    if args.timings {
        out.flush()?;
        eprint!("{timings}");
    }
    Ok(code)
}

/// Prints the findings (with their fixes) and returns the exit code.
fn report_findings(
    out: &mut dyn Write,
    run: &netpol_fix::check::CheckRun,
    args: &CheckArgs,
) -> io::Result<u8> {
    let mut fixes = fix::summaries(run);
    let color = args.format == findings::Format::Human
        && io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    findings::write(out, run, &mut fixes, args.format, color)?;
    if args.format != findings::Format::Human {
        let notices: Vec<_> = run
            .analysis
            .diagnostics
            .iter()
            .filter(|d| d.severity != Severity::Error)
            .cloned()
            .collect();
        report::write_diagnostics(&mut io::stderr().lock(), &run.analysis.sources, &notices)?;
    }
    let failing = run.findings.iter().any(|f| f.severity != Severity::Info);
    Ok(if run.analysis.has_errors() {
        EXIT_ERROR
    } else if failing && !args.exit_zero {
        EXIT_FINDINGS
    } else {
        0
    })
}
