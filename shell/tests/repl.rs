//! The interactive shell in a pseudo-terminal: banner and prompt, tab completion of command
//! names and guest devices, and history recalled across sessions through `$HOME/.vfish`.

mod common;
use common::demo;
use nix::pty::{openpty, Winsize};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// vfish running on a pty, with everything it printed collected by a reader thread.
struct Pty {
    child: Child,
    writer: File,
    screen: Arc<Mutex<Vec<u8>>>,
    /// How much of the screen earlier waits consumed.
    seen: usize,
}

impl Pty {
    fn spawn(args: &[&str], home: &Path) -> Pty {
        let size = Winsize {
            ws_row: 24,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).expect("openpty");
        let child = {
            let slave = File::from(pty.slave);
            let io = |f: &File| Stdio::from(f.try_clone().expect("dup slave"));
            Command::new(env!("CARGO_BIN_EXE_vfish"))
                .args(args)
                .env("HOME", home)
                .env("TERM", "xterm")
                .stdin(io(&slave))
                .stdout(io(&slave))
                .stderr(io(&slave))
                .spawn()
                .expect("spawn vfish")
        };
        let master = File::from(pty.master);
        let writer = master.try_clone().expect("dup master");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut master = master;
            let mut buf = [0u8; 4096];
            // Ends with EIO when vfish has exited and the slave side is closed.
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            child,
            writer,
            screen,
            seen: 0,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Waits until `pat` appears after what earlier waits consumed.
    fn expect(&mut self, pat: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.text();
            if let Some(i) = text.get(self.seen..).and_then(|t| t.find(pat)) {
                self.seen += i + pat.len();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {pat:?}; screen so far:\n{text:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).expect("write to pty");
        self.writer.flush().expect("flush pty");
    }

    fn wait_exit(mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("vfish did not exit; screen:\n{:?}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn prompt_completion_and_history_across_sessions() {
    let home = tempfile::tempdir().expect("tempdir");
    let d = demo();

    let mut s = Pty::spawn(&["-a", &d], home.path());
    s.expect("Welcome to vfish, the guest filesystem shell for");
    s.expect("Type: ‘help’ for help on commands");
    s.expect("><fs> ");
    s.send("run\r");
    s.expect("><fs> ");
    // A command name completes from the table.
    s.send("list-dev\t");
    s.expect("list-devices ");
    s.send("\r");
    s.expect("/dev/sda\r\n");
    s.expect("><fs> ");
    // A device argument completes from the guest.
    s.send("vfs-type /dev/demo/r\t");
    s.expect("/dev/demo/root ");
    s.send("\r");
    s.expect("ext4\r\n");
    s.expect("><fs> ");
    // Errors do not end an interactive session.
    s.send("vfs-type /dev/nope\r");
    s.expect("vguestfs: error: vfs_type: /dev/nope: no such device");
    s.expect("><fs> ");
    s.send("\x04"); // Ctrl-D
    assert_eq!(s.wait_exit(), 0);

    let history = std::fs::read_to_string(home.path().join(".vfish")).expect("history file");
    assert!(history.contains("list-devices"), "{history}");
    assert!(history.contains("vfs-type /dev/demo/root"), "{history}");

    // A new session recalls the previous one's lines with the up arrow.
    let mut s = Pty::spawn(&["-a", &d], home.path());
    s.expect("><fs> ");
    s.send("run\r");
    s.expect("><fs> ");
    s.send("\x1b[A\x1b[A\x1b[A");
    s.expect("vfs-type /dev/demo/root");
    s.send("\r");
    s.expect("ext4\r\n");
    s.expect("><fs> ");
    s.send("quit\r");
    assert_eq!(s.wait_exit(), 0);
}

#[test]
fn guest_paths_complete_from_the_mounted_guest() {
    let home = tempfile::tempdir().expect("tempdir");
    let d = demo();
    let mut s = Pty::spawn(
        &[
            "-a",
            &d,
            "-m",
            "/dev/demo/root",
            "-m",
            "/dev/sda1:/boot/efi",
        ],
        home.path(),
    );
    s.expect("><fs> ");
    // A unique completion: the file, then a space.
    s.send("cat /etc/host\t");
    s.expect("hostname");
    s.send("\r");
    s.expect("demo-debian\r\n");
    s.expect("><fs> ");
    // A directory completes with a slash and goes on inside it (across the ESP mount).
    s.send("ls /boot/e\t");
    s.expect("efi/");
    s.send("E\t");
    s.expect("EFI/");
    s.send("\r");
    s.expect("BOOT\r\n");
    s.expect("><fs> ");
    // The path is the command's second argument here.
    s.send("checksum md5 /etc/pass\t");
    s.expect("passwd");
    s.send("\r");
    s.expect(&format!(
        "{}\r\n",
        common::tool(
            "md5sum",
            &[&common::root()
                .join("fixtures/trees/debian/etc/passwd")
                .to_string_lossy()]
        )
        .split(' ')
        .next()
        .unwrap_or("")
    ));
    s.expect("><fs> ");
    s.send("quit\r");
    assert_eq!(s.wait_exit(), 0);
}

#[test]
fn inspector_banner_names_the_os_and_its_mounts() {
    let home = tempfile::tempdir().expect("tempdir");
    let d = demo();
    let mut s = Pty::spawn(&["--ro", "-i", "-a", &d], home.path());
    s.expect("Type: ‘help’ for help on commands");
    // guestfish's print_inspect_prompt: product name (libguestfs takes Debian's from
    // /etc/debian_version), then the mountpoints shortest first, then a blank line
    let version = std::fs::read_to_string(common::root().join("fixtures/trees/debian/etc/debian_version")).unwrap();
    s.expect(&format!(
        "Operating system: {}\r\n/dev/demo/root mounted on /\r\n/dev/sda1 mounted on /boot/efi\r\n\r\n",
        version.trim()
    ));
    s.expect("><fs> ");
    s.send("quit\r");
    assert_eq!(s.wait_exit(), 0);
}
