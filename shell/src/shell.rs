//! Running commands: one parsed line or one command-line command at a time, with guestfish's
//! error rules. In scripts, stdin and on the command line the first failure stops vfish with
//! exit status 1 unless the command was written `-cmd`; interactively it is reported and the
//! shell goes on.

use crate::command::{Command, Failure};
use crate::table;
use crate::parser::{self, LineKind};
use crate::session::Session;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command as Process, Stdio};

/// vfish must exit with status 1 (the error has been printed).
#[derive(Debug)]
pub struct Fatal;

/// The shell: the session plus what the runner needs.
pub struct Shell {
    /// State the commands act on.
    pub session: Session,
    /// `-x`: print each command on stderr before running it.
    pub trace: bool,
    /// Commands issued so far (the first unknown command gets a longer hint).
    issued: usize,
    /// `$HOME`, for `~` in arguments.
    home: Option<String>,
    /// In scripts: the input's name (`-f` file or `*stdin*`) and the current line number,
    /// which prefix library errors as in guestfish (`*stdin*:3: vguestfs: error: …`).
    location: Option<(String, usize)>,
}

impl Shell {
    /// A shell over `session`.
    pub fn new(session: Session, trace: bool) -> Shell {
        Shell {
            session,
            trace,
            issued: 0,
            home: std::env::var("HOME").ok(),
            location: None,
        }
    }

    /// Parses and runs one line. `exit_on_error` is the mode's rule (false interactively).
    pub fn run_line(&mut self, line: &str, exit_on_error: bool) -> Result<(), Fatal> {
        let parsed = match parser::parse_line(line, self.home.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("vfish: {e}");
                return if exit_on_error { Err(Fatal) } else { Ok(()) };
            }
        };
        let exit_on_error = exit_on_error && !parsed.ignore_errors;
        let ok = match parsed.kind {
            LineKind::Nothing => true,
            LineKind::Shell(cmd) => host_shell(&cmd),
            LineKind::Inline(cmd) => self.inline(&cmd, exit_on_error)?,
            LineKind::Command { name, args, pipe } => self.issue(&name, &args, pipe.as_deref()),
        };
        if !ok && exit_on_error {
            return Err(Fatal);
        }
        Ok(())
    }

    /// Runs lines from `input` (called `name` in error messages) until EOF or `quit`.
    pub fn run_script(&mut self, input: impl BufRead, name: &str) -> Result<(), Fatal> {
        self.location = Some((name.to_string(), 0));
        for line in input.lines() {
            if let Some((_, n)) = &mut self.location {
                *n += 1;
            }
            if self.session.quit {
                break;
            }
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("vfish: reading commands: {}", crate::cli::strerror(&e));
                    return Err(Fatal);
                }
            };
            self.run_line(&line, true)?;
        }
        Ok(())
    }

    /// Runs the commands given on the command line (a leading `-` forgives a failure).
    pub fn run_words(&mut self, commands: &[Vec<String>]) -> Result<(), Fatal> {
        for words in commands {
            if self.session.quit {
                break;
            }
            let (name, args) = words.split_first().ok_or(Fatal)?;
            let (name, exit_on_error) = match name.strip_prefix('-') {
                Some(n) => (n, false),
                None => (name.as_str(), true),
            };
            if !self.issue(name, args, None) && exit_on_error {
                return Err(Fatal);
            }
        }
        Ok(())
    }

    /// `<!cmd`: runs `cmd` and executes each line it prints.
    fn inline(&mut self, cmd: &str, exit_on_error: bool) -> Result<bool, Fatal> {
        let child = Process::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                eprintln!("vfish: sh: {}", crate::cli::strerror(&e));
                return Ok(false);
            }
        };
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines() {
                match line {
                    Ok(l) => self.run_line(&l, exit_on_error)?,
                    Err(e) => {
                        eprintln!("vfish: <!{cmd}: {}", crate::cli::strerror(&e));
                        break;
                    }
                }
            }
        }
        match child.wait() {
            Ok(st) if st.success() => Ok(true),
            Ok(st) => {
                eprintln!("vfish: <!{cmd}: {st}");
                Ok(false)
            }
            Err(e) => {
                eprintln!("vfish: <!{cmd}: {}", crate::cli::strerror(&e));
                Ok(false)
            }
        }
    }

    /// Runs one command, its output going to stdout or to `pipe`'s standard input. Returns
    /// whether it succeeded; failures have been reported on stderr.
    pub fn issue(&mut self, name: &str, args: &[String], pipe: Option<&str>) -> bool {
        self.issued += 1;
        let Some(cmd) = table::lookup(name) else {
            eprintln!("{name}: unknown command");
            if self.issued == 1 {
                eprint!(
                    "Did you mean to open a disk image?  vfish -a disk.img\n\
                     For a list of commands:             vfish -h\n\
                     For complete documentation:         vfish --help\n"
                );
            }
            return false;
        };
        if self.trace {
            let quoted: Vec<String> = args
                .iter()
                .map(|a| format!(" \"{}\"", a.escape_default()))
                .collect();
            eprintln!("vguestfs: trace: {}{}", cmd.api_name(), quoted.concat());
        }
        let result = match pipe {
            None => {
                let mut out = Lenient(io::stdout().lock());
                let r = cmd.invoke(table::COMMANDS, &mut self.session, args, &mut out);
                let _ = out.flush();
                r
            }
            Some(p) => self.piped(cmd, args, p),
        };
        match result {
            Ok(()) => true,
            Err(Failure::WrongArgs) => {
                eprintln!("error: incorrect number of arguments");
                eprintln!("usage: {}", cmd.synopsis());
                eprintln!("type 'help {name}' for more help on {name}");
                false
            }
            Err(Failure::Message(m)) => {
                eprintln!("{m}");
                false
            }
            Err(Failure::Library(m)) => {
                let at = self
                    .location
                    .as_ref()
                    .map(|(f, n)| format!("{f}:{n}: "))
                    .unwrap_or_default();
                eprintln!("{at}vguestfs: error: {m}");
                false
            }
        }
    }

    /// `cmd | hostcmd`: the host command reads the output; its exit status is ignored, as in
    /// guestfish.
    fn piped(
        &mut self,
        cmd: &Command,
        args: &[String],
        pipe: &str,
    ) -> Result<(), Failure> {
        let _ = io::stdout().flush();
        let mut child = Process::new("sh")
            .arg("-c")
            .arg(pipe)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::Message(format!("vfish: sh: {}", crate::cli::strerror(&e))))?;
        let result = match child.stdin.take() {
            Some(stdin) => cmd.invoke(table::COMMANDS, &mut self.session, args, &mut Lenient(stdin)),
            None => Err(Failure::Message(
                "vfish: pipe: no standard input for the host command".into(),
            )),
        };
        child.wait().map_err(|e| {
            Failure::Message(format!(
                "vfish: waiting for command to complete: {}",
                crate::cli::strerror(&e)
            ))
        })?;
        result
    }
}

/// Output that a reader closed early (`| head -1`) is not an error of the command: guestfish
/// ignores SIGPIPE and the failed writes alike.
struct Lenient<W: Write>(W);

impl<W: Write> Write for Lenient<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(buf.len()),
            r => r,
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.0.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            r => r,
        }
    }
}

/// `!cmd`: runs `cmd` with `sh -c`; a failure is an error, reported by the command itself.
fn host_shell(cmd: &str) -> bool {
    let _ = io::stdout().flush();
    match Process::new("sh").arg("-c").arg(cmd).status() {
        Ok(st) => st.success(),
        Err(e) => {
            eprintln!("vfish: sh: {}", crate::cli::strerror(&e));
            false
        }
    }
}
