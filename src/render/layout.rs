//! Where each camera goes on the screen: a grid of cells, and the picture letterboxed in its
//! cell with its aspect ratio kept. Pure integer geometry in target pixels.

/// A rectangle in target pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left.
    pub x: u32,
    /// Top.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// Columns and rows for `n` tiles: 1, 2×1, 2×2, 3×2, 3×3 …
pub fn grid(n: usize) -> (u32, u32) {
    let n = n.max(1) as u32;
    let mut cols = 1;
    while cols * cols < n {
        cols += 1;
    }
    let rows = n.div_ceil(cols);
    (cols, rows)
}

/// The cell of tile `i` of `n` in a `width` x `height` target.
pub fn cell(i: usize, n: usize, width: u32, height: u32) -> Rect {
    let (cols, rows) = grid(n);
    let (c, r) = (i as u32 % cols, i as u32 / cols);
    let x0 = width * c / cols;
    let x1 = width * (c + 1) / cols;
    let y0 = height * r / rows;
    let y1 = height * (r + 1) / rows;
    Rect {
        x: x0,
        y: y0,
        w: x1 - x0,
        h: y1 - y0,
    }
}

/// A `pw` x `ph` picture fitted into `cell`, centred, aspect ratio kept.
pub fn letterbox(cell: Rect, pw: u32, ph: u32) -> Rect {
    if pw == 0 || ph == 0 || cell.w == 0 || cell.h == 0 {
        return Rect { w: 0, h: 0, ..cell };
    }
    let (cw, ch) = (u64::from(cell.w), u64::from(cell.h));
    let (pw, ph) = (u64::from(pw), u64::from(ph));
    let (w, h) = if cw * ph <= ch * pw {
        (cw, (cw * ph + pw / 2) / pw)
    } else {
        ((ch * pw + ph / 2) / ph, ch)
    };
    let (w, h) = (w.clamp(1, cw) as u32, h.clamp(1, ch) as u32);
    Rect {
        x: cell.x + (cell.w - w) / 2,
        y: cell.y + (cell.h - h) / 2,
        w,
        h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids() {
        assert_eq!(grid(1), (1, 1));
        assert_eq!(grid(2), (2, 1));
        assert_eq!(grid(3), (2, 2));
        assert_eq!(grid(4), (2, 2));
        assert_eq!(grid(5), (3, 2));
        assert_eq!(grid(9), (3, 3));
        assert_eq!(grid(10), (4, 3));
    }

    #[test]
    fn cells_tile_the_target_exactly() {
        for n in 1..=10 {
            let area: u32 = (0..n)
                .map(|i| cell(i, n, 1001, 701))
                .map(|r| r.w * r.h)
                .sum();
            let (cols, rows) = grid(n);
            let full = (cols * rows) as usize == n;
            assert!(!full || area == 1001 * 701, "{n}");
        }
        assert_eq!(
            cell(1, 2, 1920, 1080),
            Rect {
                x: 960,
                y: 0,
                w: 960,
                h: 1080
            }
        );
    }

    #[test]
    fn letterbox_keeps_aspect() {
        let c = Rect {
            x: 0,
            y: 0,
            w: 1920,
            h: 1080,
        };
        assert_eq!(letterbox(c, 1280, 720), c);
        // 4:3 in 16:9: pillarbox.
        assert_eq!(
            letterbox(c, 640, 480),
            Rect {
                x: 240,
                y: 0,
                w: 1440,
                h: 1080
            }
        );
        // 1920x2160 (SoloCam S340, 8:9) fills an 8:9 cell, and is pillarboxed in 16:9.
        let half = Rect {
            x: 960,
            y: 0,
            w: 960,
            h: 1080,
        };
        assert_eq!(letterbox(half, 1920, 2160), half);
        assert_eq!(
            letterbox(c, 1920, 2160),
            Rect {
                x: 480,
                y: 0,
                w: 960,
                h: 1080
            }
        );
        assert_eq!(letterbox(c, 0, 0).w, 0);
    }
}
