//! Quantities that carry their unit in their type, so that a pixel count can
//! never be passed where millimetres are meant. Each is serialised as a plain
//! number; the field name in the JSON says the unit (`_mm`, `_cm2`, `_deg`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! unit {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl $name {
            pub fn get(self) -> f64 {
                self.0
            }
        }
    };
}

unit!(
    /// A length in millimetres.
    Millimetres
);
unit!(
    /// An area in square centimetres.
    SquareCentimetres
);
unit!(
    /// An angle in degrees.
    Degrees
);
unit!(
    /// A length in image pixels (sub-pixel precision).
    Pixels
);

/// Image scale: how many pixels span one millimetre of skin.
/// Always finite and strictly positive; construct with [`PxPerMm::new`].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "f64", into = "f64")]
#[schemars(extend("exclusiveMinimum" = 0))]
pub struct PxPerMm(f64);

impl TryFrom<f64> for PxPerMm {
    type Error = String;
    fn try_from(value: f64) -> Result<Self, String> {
        Self::new(value).ok_or_else(|| format!("px_per_mm {value} must be finite and positive"))
    }
}

impl From<PxPerMm> for f64 {
    fn from(v: PxPerMm) -> f64 {
        v.0
    }
}

impl PxPerMm {
    /// `None` for zero, negative, NaN or infinite values.
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && value > 0.0).then_some(Self(value))
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// The scale that makes `length` pixels correspond to `known` millimetres.
    pub fn from_known_length(length: Pixels, known: Millimetres) -> Option<Self> {
        Self::new(length.0 / known.0)
    }

    pub fn to_mm(self, px: Pixels) -> Millimetres {
        Millimetres(px.0 / self.0)
    }

    /// Area of `pixels` pixels' worth of skin facing the camera, in cm²
    /// (1 cm² = 100 mm²).
    pub fn pixel_area_to_cm2(self, pixels: f64) -> SquareCentimetres {
        SquareCentimetres(pixels / (self.0 * self.0) / 100.0)
    }
}

impl std::str::FromStr for PxPerMm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a number"))?;
        PxPerMm::new(v)
            .ok_or_else(|| format!("pixels per millimetre must be a positive number, got `{s}`"))
    }
}

impl std::fmt::Display for PxPerMm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3} px/mm", self.0)
    }
}

/// The sum of `values`, +0 when there are none (`Iterator::sum` starts
/// from -0.0, which JSON shows as `-0.0`: "minus nothing" to a reader).
pub fn total(values: impl IntoIterator<Item = f64>) -> f64 {
    values.into_iter().fold(0.0, |a, b| a + b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_scale_that_is_not_positive_is_not_read() {
        assert!(serde_json::from_str::<super::PxPerMm>("-5").is_err());
        assert!(serde_json::from_str::<super::PxPerMm>("0").is_err());
        assert_eq!(
            serde_json::from_str::<super::PxPerMm>("12.5")
                .unwrap()
                .get(),
            12.5
        );
        assert_eq!(
            serde_json::to_string(&super::PxPerMm::new(2.0).unwrap()).unwrap(),
            "2.0"
        );
    }

    #[test]
    fn an_empty_total_is_plus_zero() {
        assert!(super::total([]).is_sign_positive());
        assert_eq!(super::total([1.5, 2.0]), 3.5);
        assert!(std::iter::empty::<f64>().sum::<f64>().is_sign_negative());
    }

    use super::*;

    #[test]
    fn rejects_non_positive_scales() {
        assert!(PxPerMm::new(0.0).is_none());
        assert!(PxPerMm::new(-1.0).is_none());
        assert!(PxPerMm::new(f64::NAN).is_none());
        assert!(PxPerMm::new(f64::INFINITY).is_none());
        assert!("abc".parse::<PxPerMm>().is_err());
        assert_eq!("2.5".parse::<PxPerMm>().unwrap().get(), 2.5);
    }

    #[test]
    fn converts_lengths_and_areas() {
        let s = PxPerMm::new(10.0).unwrap();
        assert_eq!(s.to_mm(Pixels(25.0)).get(), 2.5);
        // 100 px/mm² per mm², 100 mm² per cm² -> 10_000 px per cm².
        assert!((s.pixel_area_to_cm2(10_000.0).get() - 1.0).abs() < 1e-12);
        let iris = PxPerMm::from_known_length(Pixels(18.72), Millimetres(11.7)).unwrap();
        assert!((iris.get() - 1.6).abs() < 1e-9);
    }
}
