//! A webcam through nokhwa (V4L2 on Linux). `nokhwa::Camera` is not `Send`: [`WebcamSource::open`]
//! runs on the camera thread (see `CameraThread::spawn`), which then reads it.

use image::RgbImage;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use nokhwa::Camera;

use super::{CameraError, CameraInfo, FrameSource};

fn device(e: impl std::fmt::Display) -> CameraError {
    CameraError::Device(e.to_string())
}

/// Cameras the platform backend reports (empty on a machine without one).
pub fn list_cameras() -> Result<Vec<CameraInfo>, CameraError> {
    let backend = nokhwa::native_api_backend().unwrap_or(ApiBackend::Auto);
    let cams = nokhwa::query(backend).map_err(device)?;
    Ok(cams
        .iter()
        .enumerate()
        .map(|(i, c)| CameraInfo {
            index: match c.index() {
                CameraIndex::Index(n) => *n,
                CameraIndex::String(_) => i as u32,
            },
            name: c.human_name(),
        })
        .collect())
}

pub struct WebcamSource {
    camera: Camera,
    name: String,
}

impl WebcamSource {
    /// Opens camera `index` at the format closest to `width`x`height` (MJPEG, 30 fps).
    pub fn open(index: u32, width: u32, height: u32) -> Result<Self, CameraError> {
        let wanted = CameraFormat::new(Resolution::new(width, height), FrameFormat::MJPEG, 30);
        let format = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
        let mut camera = Camera::new(CameraIndex::Index(index), format).map_err(device)?;
        camera.open_stream().map_err(device)?;
        let res = camera.resolution();
        let name = format!(
            "{} {}x{}",
            camera.info().human_name(),
            res.width(),
            res.height()
        );
        Ok(Self { camera, name })
    }
}

impl FrameSource for WebcamSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn next_frame(&mut self) -> Result<RgbImage, CameraError> {
        // `frame` blocks until the driver delivers: the camera paces itself.
        let buffer = self.camera.frame().map_err(device)?;
        let img = buffer.decode_image::<RgbFormat>().map_err(device)?;
        let (w, h) = (img.width(), img.height());
        RgbImage::from_raw(w, h, img.into_raw())
            .ok_or_else(|| CameraError::Device("frame size mismatch".into()))
    }
}

impl Drop for WebcamSource {
    fn drop(&mut self) {
        let _ = self.camera.stop_stream();
    }
}
