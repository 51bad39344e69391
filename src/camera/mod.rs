//! Frame sources for the station's probe panel: a `FrameSource` trait, a camera thread that reads a
//! source and publishes only its newest frame, and three sources (webcam via nokhwa, a folder of
//! images, synthetic frames for tests).

mod file;
mod synthetic;
#[cfg(feature = "webcam")]
mod webcam;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use image::RgbImage;

pub use file::FileSource;
pub use synthetic::SyntheticSource;
#[cfg(feature = "webcam")]
pub use webcam::{list_cameras, WebcamSource};

#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("no camera found")]
    NoCamera,
    #[error("camera support is not built in (cargo feature `webcam` is off)")]
    NotBuilt,
    #[error("camera: {0}")]
    Device(String),
    #[error("frame folder {path}: {reason}")]
    Folder {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("the frame source has ended")]
    Ended,
}

/// One frame: shared, so the UI, the preview detector and a captured probe can hold it without copies.
#[derive(Clone)]
pub struct Frame {
    pub image: Arc<RgbImage>,
    /// Increases by one per frame the source produced (gaps mean frames were dropped).
    pub seq: u64,
    pub captured_at: Instant,
}

/// Something that yields camera-like frames. `next_frame` blocks until the next frame is due, so a
/// source paces itself. Not `Send`: a source is opened on the thread that reads it (`nokhwa::Camera`
/// cannot move between threads), see [`CameraThread::spawn`].
pub trait FrameSource {
    /// A short name for the status bar, e.g. "file: 20 frames at 30 fps".
    fn describe(&self) -> String;
    fn next_frame(&mut self) -> Result<RgbImage, CameraError>;
}

/// A description of one camera the station can open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    pub index: u32,
    pub name: String,
}

/// The newest frame, and the source's state. Writers replace the frame; readers clone it: frames
/// are dropped, never queued.
#[derive(Default)]
pub struct FrameSlot {
    inner: Mutex<SlotInner>,
}

#[derive(Default)]
struct SlotInner {
    frame: Option<Frame>,
    state: CameraState,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum CameraState {
    #[default]
    Opening,
    Running(String),
    Failed(String),
    Stopped,
}

impl FrameSlot {
    pub fn latest(&self) -> Option<Frame> {
        self.lock().frame.clone()
    }

    pub fn state(&self) -> CameraState {
        self.lock().state.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotInner> {
        // A panicking camera thread must not take the UI down with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, image: RgbImage) -> u64 {
        let mut g = self.lock();
        let seq = g.frame.as_ref().map_or(0, |f| f.seq + 1);
        g.frame = Some(Frame {
            image: Arc::new(image),
            seq,
            captured_at: Instant::now(),
        });
        seq
    }

    fn set_state(&self, state: CameraState) {
        self.lock().state = state;
    }
}

/// A source opened and read on its own thread; frames land in a [`FrameSlot`] and `wake` is called
/// for each (the GUI passes `request_repaint`). Dropping the handle stops the thread.
pub struct CameraThread {
    pub slot: Arc<FrameSlot>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl CameraThread {
    pub fn spawn<O, W>(open: O, wake: W) -> Self
    where
        O: FnOnce() -> Result<Box<dyn FrameSource>, CameraError> + Send + 'static,
        W: Fn() + Send + 'static,
    {
        let slot = Arc::new(FrameSlot::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (slot.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name("camera".into())
            .spawn(move || {
                let mut source = match open() {
                    Ok(src) => src,
                    Err(e) => {
                        s.set_state(CameraState::Failed(e.to_string()));
                        wake();
                        return;
                    }
                };
                s.set_state(CameraState::Running(source.describe()));
                while !st.load(Ordering::Relaxed) {
                    match source.next_frame() {
                        Ok(img) => {
                            s.publish(img);
                            wake();
                        }
                        Err(e) => {
                            s.set_state(CameraState::Failed(e.to_string()));
                            wake();
                            return;
                        }
                    }
                }
                s.set_state(CameraState::Stopped);
            })
            .ok();
        if handle.is_none() {
            slot.set_state(CameraState::Failed(
                "could not start the camera thread".into(),
            ));
        }
        Self { slot, stop, handle }
    }
}

impl Drop for CameraThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            // Sources block at most one frame interval; a stuck webcam driver must not hang the UI.
            std::thread::spawn(move || {
                let _ = h.join();
            });
        }
    }
}

/// Sleeps until `next`, then moves `next` on by `interval` (dropping ticks if behind).
pub(crate) fn pace(next: &mut Instant, interval: std::time::Duration) {
    let now = Instant::now();
    if *next > now {
        std::thread::sleep(*next - now);
    }
    *next += interval;
    if *next < Instant::now() {
        *next = Instant::now() + interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn camera_thread_publishes_newest_frames_and_stops() {
        let t = CameraThread::spawn(
            || Ok(Box::new(SyntheticSource::new(64, 48, 200.0)) as Box<dyn FrameSource>),
            || {},
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while t.slot.latest().is_none_or(|f| f.seq < 5) {
            assert!(Instant::now() < deadline, "no frames");
            std::thread::sleep(Duration::from_millis(5));
        }
        let f = t.slot.latest().expect("frame");
        assert_eq!(f.image.dimensions(), (64, 48));
        assert!(matches!(t.slot.state(), CameraState::Running(_)));
    }

    #[test]
    fn failing_open_reports_the_error() {
        let t = CameraThread::spawn(|| Err(CameraError::NoCamera), || {});
        let deadline = Instant::now() + Duration::from_secs(5);
        while t.slot.state() == CameraState::Opening {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            t.slot.state(),
            CameraState::Failed("no camera found".into())
        );
    }
}
