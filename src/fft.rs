//! Two-dimensional FFT over row-major grids (rustfft does one dimension):
//! for relief integration, alignment and the photo's detail check.

use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// 2-D FFT of a row-major `w`×`h` grid, in place (rows, then columns).
pub fn fft2<T: rustfft::FftNum>(
    planner: &mut FftPlanner<T>,
    data: &mut [Complex<T>],
    w: usize,
    h: usize,
    inverse: bool,
) {
    let row = if inverse {
        planner.plan_fft_inverse(w)
    } else {
        planner.plan_fft_forward(w)
    };
    for r in data.chunks_exact_mut(w) {
        row.process(r);
    }
    let col = if inverse {
        planner.plan_fft_inverse(h)
    } else {
        planner.plan_fft_forward(h)
    };
    let mut buf = vec![Complex::new(T::zero(), T::zero()); h];
    for x in 0..w {
        for y in 0..h {
            buf[y] = data[y * w + x];
        }
        col.process(&mut buf);
        for y in 0..h {
            data[y * w + x] = buf[y];
        }
    }
}
