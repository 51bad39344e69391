//! `facestation kiosk`: the command-line options and the start of the window.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::{Zeroize, Zeroizing};

use super::core::KioskOptions;
use super::flow::KioskConfig;
use crate::paths::StationPaths;

#[derive(Debug, Clone, clap::Args)]
pub struct KioskArgs {
    /// A folder of images played as the camera (name order, looping); default: the first webcam.
    #[arg(long, value_name = "DIR")]
    pub camera_file: Option<PathBuf>,
    /// Frames per second of --camera-file.
    #[arg(long, default_value_t = 30.0)]
    pub camera_fps: f64,
    /// Enrolment folder: DIR/<id>/*.jpg (png, webp, bmp), one folder per ID.
    #[arg(long, value_name = "DIR")]
    pub enrolled: PathBuf,
    /// This kiosk's name, written into every record.
    #[arg(long, value_name = "ID")]
    pub kiosk_id: Option<String>,
    /// A file holding the operator PIN (4 to 32 characters). Without it the operator view
    /// (Ctrl+Alt+O) is off.
    #[arg(long, value_name = "FILE")]
    pub pin_file: Option<PathBuf>,
    /// A normal window instead of full screen.
    #[arg(long)]
    pub windowed: bool,
    /// Pixelate the camera view (privacy screen, screenshots).
    #[arg(long)]
    pub redact: bool,
    /// Seconds per person in the live view before "more time?".
    #[arg(long, default_value_t = 30)]
    pub person_seconds: u64,
}

/// Reads the operator PIN: trimmed, 4 to 32 characters.
pub fn read_pin(path: &Path) -> Result<Zeroizing<String>, String> {
    let mut raw =
        std::fs::read_to_string(path).map_err(|e| format!("--pin-file {}: {e}", path.display()))?;
    let pin = Zeroizing::new(raw.trim().to_string());
    raw.zeroize();
    let n = pin.chars().count();
    if !(4..=32).contains(&n) {
        return Err(format!(
            "--pin-file {}: the PIN must have 4 to 32 characters (it has {n})",
            path.display()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                eprintln!(
                    "facestation kiosk: warning: {} can be read by other users (chmod 600 it)",
                    path.display()
                );
            }
        }
    }
    Ok(pin)
}

/// The options `facestation kiosk` runs with.
pub fn options(paths: StationPaths, args: KioskArgs) -> Result<KioskOptions, String> {
    if !args.enrolled.is_dir() {
        return Err(format!(
            "--enrolled {}: not a folder (expected DIR/<id>/*.jpg)",
            args.enrolled.display()
        ));
    }
    let pin = match &args.pin_file {
        Some(p) => Some(read_pin(p)?),
        None => {
            eprintln!("facestation kiosk: no --pin-file: the operator view (Ctrl+Alt+O) is off");
            None
        }
    };
    if let Some(id) = &args.kiosk_id {
        super::enrolled::check_id(id)
            .map_err(|_| "--kiosk-id: 1 to 64 letters, digits, '-', '_' or '.'".to_string())?;
    }
    let config = KioskConfig {
        person_time: Duration::from_secs(args.person_seconds.max(5)),
        ..KioskConfig::default()
    };
    Ok(KioskOptions {
        paths,
        camera_file: args.camera_file,
        camera_fps: args.camera_fps,
        enrolled: args.enrolled,
        kiosk_id: args.kiosk_id,
        pin,
        windowed: args.windowed,
        redact: args.redact,
        config,
        ..KioskOptions::default()
    })
}

/// Opens the kiosk window (blocks until it closes).
pub fn run(paths: StationPaths, args: KioskArgs) -> Result<(), String> {
    let options = options(paths, args)?;
    super::app::run(options).map_err(|e| format!("the kiosk window could not open: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_trimmed_and_checked() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("pin");
        std::fs::write(&p, "  4711\n").expect("write");
        assert_eq!(read_pin(&p).expect("pin").as_str(), "4711");
        std::fs::write(&p, "12\n").expect("write");
        assert!(read_pin(&p).unwrap_err().contains("4 to 32"));
        assert!(read_pin(&dir.path().join("none")).is_err());
    }
}
