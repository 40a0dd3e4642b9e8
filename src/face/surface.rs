//! The face's surface as the mesh gives it: for each point of the image, how
//! much skin one pixel covers. A patch of skin turned by θ from the camera
//! covers 1/cos θ times more skin per pixel than one facing it, so areas
//! counted in the image plane are too small on the cheeks' sides, the nose
//! and any face that is turned or tilted. The mesh's 468 points carry depth
//! (x, y in pixels, z on the same scale); triangulated in the image, its
//! triangles give each landmark a normal, and the normal read between the
//! landmarks gives that factor: a smooth surface through the mesh's points.

use super::Point;

/// Cells across the face's larger side: about 1 mm on an adult face, finer
/// than the mesh's own triangles (5–10 mm), so the grid adds no error the
/// mesh does not already have.
const GRID_CELLS: f32 = 160.0;

/// Surface area per image area over the face, on a coarse grid.
#[derive(Debug, Clone, PartialEq)]
pub struct SurfaceMap {
    x0: f32,
    y0: f32,
    cell: f32,
    columns: usize,
    rows: usize,
    /// Surface over image area, per cell; `None` outside the mesh.
    factor: Vec<Option<f32>>,
}

impl SurfaceMap {
    /// Triangulates the landmarks in the image plane (Delaunay) and records,
    /// at each cell's centre, the factor of the landmarks' normals read
    /// there (barycentric).
    pub fn from_landmarks(landmarks: &[[f32; 3]]) -> Self {
        let (mut xmin, mut ymin, mut xmax, mut ymax) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in landmarks {
            xmin = xmin.min(p[0]);
            ymin = ymin.min(p[1]);
            xmax = xmax.max(p[0]);
            ymax = ymax.max(p[1]);
        }
        let side = (xmax - xmin).max(ymax - ymin);
        if !side.is_finite() || side <= 0.0 {
            return Self::empty();
        }
        let cell = side / GRID_CELLS;
        let columns = ((xmax - xmin) / cell).ceil() as usize + 1;
        let rows = ((ymax - ymin) / cell).ceil() as usize + 1;
        let mut factor = vec![None; columns * rows];
        let points: Vec<delaunator::Point> = landmarks
            .iter()
            .map(|p| delaunator::Point {
                x: f64::from(p[0]),
                y: f64::from(p[1]),
            })
            .collect();
        let triangulation = delaunator::triangulate(&points);
        // Each landmark's normal: its triangles' normals summed, each
        // weighted by its 3-D area and turned towards the camera. Read
        // between the landmarks, they make the factor change smoothly, so a
        // landmark that moves a little moves the 60° limit a little, not a
        // whole triangle in or out of a zone.
        let mut vertex = vec![[0.0f32; 3]; landmarks.len()];
        for t in triangulation.triangles.chunks_exact(3) {
            let n = normal(landmarks[t[0]], landmarks[t[1]], landmarks[t[2]]);
            for &i in t {
                for k in 0..3 {
                    vertex[i][k] += n[k];
                }
            }
        }
        for t in triangulation.triangles.chunks_exact(3) {
            let [a, b, c] = [landmarks[t[0]], landmarks[t[1]], landmarks[t[2]]];
            // Barycentric coordinates of image points in this triangle.
            let det = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1]);
            if det.abs() < 1e-3 {
                continue;
            }
            // Cells whose centres lie in the triangle.
            let lo = |v: f32, origin: f32| ((v - origin) / cell - 0.5).ceil().max(0.0) as usize;
            let hi = |v: f32, origin: f32, n: usize| {
                (((v - origin) / cell - 0.5).floor().max(-1.0) as isize).min(n as isize - 1)
            };
            let (c0, c1) = (
                lo(a[0].min(b[0]).min(c[0]), xmin),
                hi(a[0].max(b[0]).max(c[0]), xmin, columns),
            );
            let (r0, r1) = (
                lo(a[1].min(b[1]).min(c[1]), ymin),
                hi(a[1].max(b[1]).max(c[1]), ymin, rows),
            );
            for row in r0 as isize..=r1 {
                for col in c0 as isize..=c1 {
                    let p = (
                        xmin + (col as f32 + 0.5) * cell,
                        ymin + (row as f32 + 0.5) * cell,
                    );
                    if !inside(p, a, b, c) {
                        continue;
                    }
                    let wa = ((b[1] - c[1]) * (p.0 - c[0]) + (c[0] - b[0]) * (p.1 - c[1])) / det;
                    let wb = ((c[1] - a[1]) * (p.0 - c[0]) + (a[0] - c[0]) * (p.1 - c[1])) / det;
                    let wc = 1.0 - wa - wb;
                    let n: [f32; 3] = std::array::from_fn(|k| {
                        wa * vertex[t[0]][k] + wb * vertex[t[1]][k] + wc * vertex[t[2]][k]
                    });
                    factor[row as usize * columns + col as usize] = area_ratio(n);
                }
            }
        }
        // Pixels along the mesh's outline can have their cell's centre just
        // outside it: give such cells their steepest neighbour's factor.
        for _ in 0..2 {
            let before = factor.clone();
            for row in 0..rows {
                for col in 0..columns {
                    if before[row * columns + col].is_some() {
                        continue;
                    }
                    let mut steepest: Option<f32> = None;
                    for (dr, dc) in [(-1isize, 0isize), (1, 0), (0, -1), (0, 1)] {
                        let (r, c) = (row as isize + dr, col as isize + dc);
                        if r >= 0 && c >= 0 && (r as usize) < rows && (c as usize) < columns {
                            if let Some(f) = before[r as usize * columns + c as usize] {
                                steepest = Some(steepest.map_or(f, |s| s.max(f)));
                            }
                        }
                    }
                    factor[row * columns + col] = steepest;
                }
            }
        }
        Self {
            x0: xmin,
            y0: ymin,
            cell,
            columns,
            rows,
            factor,
        }
    }

    /// The pixels `x_start..x_end` of image row `y` in runs of one factor:
    /// `(from, to, factor)`, factor `None` off the mesh. Pixel `x`'s centre
    /// is at `x + 0.5`.
    pub fn row_runs(&self, y: u32, x_start: u32, x_end: u32) -> Vec<(u32, u32, Option<f32>)> {
        let mut runs = Vec::new();
        let row = ((y as f32 + 0.5 - self.y0) / self.cell).floor();
        let mut x = x_start;
        while x < x_end {
            let col = ((x as f32 + 0.5 - self.x0) / self.cell).floor();
            // The first pixel whose centre lies in the next cell.
            let next = (self.x0 + (col + 1.0) * self.cell - 0.5).ceil();
            let to = if next.is_finite() && next > x as f32 {
                (next as u32).min(x_end)
            } else {
                x + 1
            };
            let factor = self.factor_of_cell(col, row);
            match runs.last_mut() {
                Some((_, end, f)) if *f == factor => *end = to,
                _ => runs.push((x, to, factor)),
            }
            x = to;
        }
        runs
    }

    /// A map that knows no surface: every lookup is `None`.
    pub fn empty() -> Self {
        Self {
            x0: 0.0,
            y0: 0.0,
            cell: 1.0,
            columns: 0,
            rows: 0,
            factor: Vec::new(),
        }
    }

    /// Surface area per image area at an image point (≥ 1), `None` off the
    /// mesh.
    pub fn at(&self, p: Point) -> Option<f32> {
        self.factor_of_cell(
            ((p.0 - self.x0) / self.cell).floor(),
            ((p.1 - self.y0) / self.cell).floor(),
        )
    }

    /// `at` over a grid of points (`xs` across, `ys` down; row-major), each
    /// coordinate's cell found once rather than once per point; `off` where
    /// a point is off the mesh.
    pub fn on_grid(&self, xs: &[f32], ys: &[f32], off: f32) -> Vec<f32> {
        let floor = |c: f32, origin: f32| ((c - origin) / self.cell).floor();
        let cols: Vec<Option<usize>> = xs
            .iter()
            .map(|&x| cell_index(floor(x, self.x0), self.columns))
            .collect();
        let mut out = Vec::with_capacity(xs.len() * ys.len());
        for &y in ys {
            match cell_index(floor(y, self.y0), self.rows) {
                Some(row) => {
                    let line = &self.factor[row * self.columns..][..self.columns];
                    out.extend(cols.iter().map(|c| c.and_then(|c| line[c]).unwrap_or(off)));
                }
                None => out.extend(std::iter::repeat_n(off, xs.len())),
            }
        }
        out
    }

    /// The factor of the cell at column `col`, row `row` (whole numbers, as
    /// floats so that points left of or above the grid fall off it).
    fn factor_of_cell(&self, col: f32, row: f32) -> Option<f32> {
        let col = cell_index(col, self.columns)?;
        let row = cell_index(row, self.rows)?;
        self.factor[row * self.columns + col]
    }
}

/// A cell coordinate (a whole number, as a float) as an index below `len`;
/// `None` left of or above the grid (negative) or past it.
fn cell_index(k: f32, len: usize) -> Option<usize> {
    ((k.is_nan() || k >= 0.0) && (k as usize) < len).then_some(k as usize)
}

/// A triangle's normal, as long as twice its 3-D area, turned towards the
/// camera (z ≤ 0: depth grows away from it).
fn normal(a: [f32; 3], b: [f32; 3], c: [f32; 3]) -> [f32; 3] {
    let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
    let n = [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ];
    if n[2] > 0.0 {
        n.map(|x| -x)
    } else {
        n
    }
}

/// Surface over image area where the surface's normal is `n`: 1/cos of its
/// angle to the camera's axis. `None` for a normal (nearly) across the
/// axis, which no pixel sees.
fn area_ratio(n: [f32; 3]) -> Option<f32> {
    let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    let facing = n[2].abs();
    (facing > 1e-6 * length && length.is_finite()).then(|| length / facing)
}

fn inside(p: Point, a: [f32; 3], b: [f32; 3], c: [f32; 3]) -> bool {
    let side =
        |s: [f32; 3], e: [f32; 3]| (e[0] - s[0]) * (p.1 - s[1]) - (e[1] - s[1]) * (p.0 - s[0]);
    let (d1, d2, d3) = (side(a, b), side(b, c), side(c, a));
    let negative = d1 < 0.0 || d2 < 0.0 || d3 < 0.0;
    let positive = d1 > 0.0 || d2 > 0.0 || d3 > 0.0;
    !(negative && positive)
}

/// The angle from the camera whose foreshortening a factor undoes.
pub fn obliquity_deg(factor: f32) -> f32 {
    (1.0 / factor.max(1.0)).acos().to_degrees()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grid of points on a plane turned `deg` about the vertical axis.
    fn turned_plane(deg: f32) -> Vec<[f32; 3]> {
        let (s, c) = deg.to_radians().sin_cos();
        (0..12)
            .flat_map(|i| (0..12).map(move |j| (i as f32 * 10.0, j as f32 * 10.0)))
            .map(|(u, y)| [u * c, y, u * s])
            .collect()
    }

    #[test]
    fn a_turned_plane_covers_one_over_cos_more_skin_per_pixel() {
        for deg in [0.0f32, 20.0, 45.0, 60.0] {
            let map = SurfaceMap::from_landmarks(&turned_plane(deg));
            let want = 1.0 / deg.to_radians().cos();
            let mid = (55.0 * deg.to_radians().cos(), 55.0);
            let got = map.at(mid).expect("inside the mesh");
            assert!((got - want).abs() < 1e-3 * want, "{deg}°: {got} vs {want}");
            assert!((obliquity_deg(got) - deg).abs() < 0.1);
        }
    }

    #[test]
    fn off_the_mesh_there_is_no_factor() {
        let map = SurfaceMap::from_landmarks(&turned_plane(0.0));
        assert_eq!(map.at((-5.0, 50.0)), None);
        assert_eq!(map.at((50.0, 500.0)), None);
        assert_eq!(SurfaceMap::empty().at((0.0, 0.0)), None);
    }

    #[test]
    fn row_runs_agree_with_point_lookups() {
        let pts: Vec<[f32; 3]> = (0..=20)
            .flat_map(|i| (0..10).map(move |j| (i, j)))
            .map(|(i, j)| {
                let a = (i as f32 / 20.0 - 0.5) * 2.0;
                [100.0 * a.sin() + 120.0, j as f32 * 10.0, -100.0 * a.cos()]
            })
            .collect();
        let map = SurfaceMap::from_landmarks(&pts);
        for y in [0u32, 17, 45, 89] {
            let runs = map.row_runs(y, 0, 260);
            assert_eq!(runs.first().map(|r| r.0), Some(0));
            assert_eq!(runs.last().map(|r| r.1), Some(260));
            for (from, to, f) in runs {
                for x in from..to {
                    assert_eq!(map.at((x as f32 + 0.5, y as f32 + 0.5)), f, "({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn a_curved_surface_reads_steeper_towards_its_edge() {
        // A cylinder of radius 100 seen from the front: at x the surface is
        // turned asin(x / r) from the camera.
        let pts: Vec<[f32; 3]> = (0..=40)
            .flat_map(|i| (0..10).map(move |j| (i, j)))
            .map(|(i, j)| {
                let a = (i as f32 / 40.0 - 0.5) * 2.4; // ±69°
                [100.0 * a.sin(), j as f32 * 10.0, -100.0 * a.cos()]
            })
            .collect();
        let map = SurfaceMap::from_landmarks(&pts);
        let centre = map.at((0.5, 45.0)).unwrap();
        let side = map.at((80.0, 45.0)).unwrap();
        assert!(centre < 1.02, "{centre}");
        let want = 1.0 / (0.8f32).asin().cos();
        assert!((side - want).abs() < 0.1 * want, "{side} vs {want}");
    }
}
