//! dlib ResNet face descriptors (128-d) from aligned chips, and the distance between them.

use ort::session::Session;
use ort::value::TensorRef;

use super::align::CHIP_SIZE;
use super::VisionError;

pub const DESCRIPTOR_LEN: usize = 128;

/// A 128-d dlib face descriptor; compare two with Euclidean distance (dlib: < 0.6 = same person).
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor(pub Vec<f32>);

impl Descriptor {
    pub fn distance(&self, other: &Descriptor) -> f32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    }

    /// The element-wise mean of several descriptors of one face (flip / jitter test-time augmentation).
    pub fn mean(all: &[Descriptor]) -> Option<Descriptor> {
        let first = all.first()?;
        let mut sum = vec![0.0f32; first.0.len()];
        for d in all {
            for (s, v) in sum.iter_mut().zip(&d.0) {
                *s += v;
            }
        }
        let n = all.len() as f32;
        Some(Descriptor(sum.into_iter().map(|s| s / n).collect()))
    }
}

pub struct Embedder {
    session: Session,
}

impl Embedder {
    pub fn new(session: Session) -> Self {
        Self { session }
    }

    /// Runs a batch of planar RGB chips (`n` x 3 x 150 x 150, raw 0..255) through the network.
    pub fn embed(&mut self, chips: &[f32], n: usize) -> Result<Vec<Descriptor>, VisionError> {
        let per_chip = 3 * CHIP_SIZE * CHIP_SIZE;
        if n == 0 || chips.len() != n * per_chip {
            return Err(VisionError::UnexpectedOutput(format!(
                "embedder input holds {} values, expected {} chips of {per_chip}",
                chips.len(),
                n
            )));
        }
        let tensor = TensorRef::from_array_view(([n, 3, CHIP_SIZE, CHIP_SIZE], chips))?;
        let outputs = self.session.run(ort::inputs!["input" => tensor])?;
        let value = outputs
            .get("descriptor")
            .ok_or_else(|| VisionError::UnexpectedOutput("missing output descriptor".into()))?;
        let (_, data) = value.try_extract_tensor::<f32>()?;
        if data.len() != n * DESCRIPTOR_LEN {
            return Err(VisionError::UnexpectedOutput(format!(
                "descriptor output has {} values, expected {}",
                data.len(),
                n * DESCRIPTOR_LEN
            )));
        }
        Ok(data
            .chunks_exact(DESCRIPTOR_LEN)
            .map(|c| Descriptor(c.to_vec()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_mean() {
        let a = Descriptor(vec![0.0, 3.0]);
        let b = Descriptor(vec![4.0, 0.0]);
        assert!((a.distance(&b) - 5.0).abs() < 1e-6);
        assert_eq!(Descriptor::mean(&[a, b]), Some(Descriptor(vec![2.0, 1.5])));
        assert_eq!(Descriptor::mean(&[]), None);
    }
}
