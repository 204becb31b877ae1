//! Where each camera goes on the screen: a [`Layout`] of cells (an automatic grid, a grid of
//! a given shape, or one large tile with small ones), and the picture letterboxed in its cell
//! with its aspect ratio kept. Pure integer geometry in target pixels.

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

/// How a page's tiles are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// The smallest near-square grid that holds them: 1, 2×1, 2×2, 3×2, 3×3 …
    #[default]
    Auto,
    /// A grid of this many columns and rows (tiles past `cols * rows` are not shown).
    Grid {
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
    },
    /// The first tile large, the others small: up to three stacked on the right of a tile
    /// two thirds wide; more along the right and the bottom of one in the top-left corner
    /// (1+5 on a 3×3 grid, 1+7 on 4×4 …).
    Main,
}

impl std::str::FromStr for Layout {
    type Err = String;

    /// `grid` (or `auto`), `COLSxROWS` such as `3x2`, or `main`.
    fn from_str(s: &str) -> Result<Layout, String> {
        let bad = || format!("{s:?}: expected \"grid\", \"main\" or COLSxROWS such as \"3x2\"");
        match s.trim() {
            "grid" | "auto" => Ok(Layout::Auto),
            "main" => Ok(Layout::Main),
            shape => {
                let (c, r) = shape.split_once(['x', 'X']).ok_or_else(bad)?;
                let (cols, rows) = (
                    c.parse::<u32>().map_err(|_| bad())?,
                    r.parse::<u32>().map_err(|_| bad())?,
                );
                if !(1..=16).contains(&cols) || !(1..=16).contains(&rows) {
                    return Err(format!("{s:?}: columns and rows are 1 to 16"));
                }
                Ok(Layout::Grid { cols, rows })
            }
        }
    }
}

impl Layout {
    /// How many tiles it shows at most (`None`: any number).
    pub fn capacity(self) -> Option<usize> {
        match self {
            Layout::Grid { cols, rows } => Some((cols * rows) as usize),
            Layout::Auto | Layout::Main => None,
        }
    }

    /// The cells of `n` tiles in a `width` x `height` target, in tile order. Tiles that do
    /// not fit get an empty rectangle.
    pub fn cells(self, n: usize, width: u32, height: u32) -> Vec<Rect> {
        let span = |c0: u32, c1: u32, r0: u32, r1: u32, cols: u32, rows: u32| {
            let (x0, x1) = (width * c0 / cols, width * c1 / cols);
            let (y0, y1) = (height * r0 / rows, height * r1 / rows);
            Rect {
                x: x0,
                y: y0,
                w: x1 - x0,
                h: y1 - y0,
            }
        };
        let empty = Rect {
            x: 0,
            y: 0,
            w: 0,
            h: 0,
        };
        match self {
            Layout::Auto => (0..n).map(|i| cell(i, n, width, height)).collect(),
            Layout::Grid { cols, rows } => (0..n)
                .map(|i| {
                    let i = i as u32;
                    if i >= cols * rows {
                        return empty;
                    }
                    let (c, r) = (i % cols, i / cols);
                    span(c, c + 1, r, r + 1, cols, rows)
                })
                .collect(),
            Layout::Main if n <= 1 => (0..n).map(|_| span(0, 1, 0, 1, 1, 1)).collect(),
            // Up to 3 small ones: the large tile two thirds wide, the others stacked right.
            Layout::Main if n <= 4 => {
                let k = n as u32 - 1;
                let mut out = vec![span(0, 2, 0, 1, 3, 1)];
                out.extend((0..k).map(|r| span(2, 3, r, r + 1, 3, k)));
                out
            }
            Layout::Main => {
                let s = (n as u32).div_ceil(2).max(3);
                let mut out = vec![span(0, s - 1, 0, s - 1, s, s)];
                // Down the right column, then along the bottom row.
                let small = (0..s - 1)
                    .map(|r| (s - 1, r))
                    .chain((0..s).map(|c| (c, s - 1)));
                out.extend(
                    small
                        .take(n - 1)
                        .map(|(c, r)| span(c, c + 1, r, r + 1, s, s)),
                );
                out
            }
        }
    }
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

/// A screen corner (picture-in-picture insets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Corner {
    /// Top left.
    TopLeft,
    /// Top right.
    TopRight,
    /// Bottom left.
    BottomLeft,
    /// Bottom right.
    #[default]
    BottomRight,
}

impl std::str::FromStr for Corner {
    type Err = String;

    fn from_str(s: &str) -> Result<Corner, String> {
        match s.trim() {
            "top-left" => Ok(Corner::TopLeft),
            "top-right" => Ok(Corner::TopRight),
            "bottom-left" => Ok(Corner::BottomLeft),
            "bottom-right" => Ok(Corner::BottomRight),
            other => Err(format!(
                "{other:?}: expected top-left, top-right, bottom-left or bottom-right"
            )),
        }
    }
}

/// Picture-in-picture insets over a page: the last `count` tiles of a screen, stacked from
/// `corner` along its side, each `size` of the screen's width (16:9).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Insets {
    /// How many of the screen's tiles (its last ones) are insets.
    pub count: usize,
    /// Where they stack from.
    pub corner: Corner,
    /// Each one's width as a fraction of the screen's.
    pub size: f32,
}

/// Space between insets and from the screen's edge, pixels.
const INSET_MARGIN: u32 = 16;

/// The cells of a screen of `n` tiles: the page's `layout` for the first ones, then the
/// insets (those that do not fit on the screen's side get an empty rectangle). The one
/// geometry the renderer draws and the window hit-tests.
pub fn screen_cells(
    layout: Layout,
    insets: Option<Insets>,
    n: usize,
    width: u32,
    height: u32,
) -> Vec<Rect> {
    let Some(ins) = insets.filter(|i| i.count > 0) else {
        return layout.cells(n, width, height);
    };
    let count = ins.count.min(n);
    let mut cells = layout.cells(n - count, width, height);
    let w = ((width as f32 * ins.size.clamp(0.05, 0.9)) as u32).max(32);
    let h = w * 9 / 16;
    for k in 0..count as u32 {
        let step = k * (h + INSET_MARGIN);
        let fits = w + 2 * INSET_MARGIN <= width && step + h + 2 * INSET_MARGIN <= height;
        if !fits {
            cells.push(Rect {
                x: 0,
                y: 0,
                w: 0,
                h: 0,
            });
            continue;
        }
        let x = match ins.corner {
            Corner::TopLeft | Corner::BottomLeft => INSET_MARGIN,
            Corner::TopRight | Corner::BottomRight => width - w - INSET_MARGIN,
        };
        let y = match ins.corner {
            Corner::TopLeft | Corner::TopRight => INSET_MARGIN + step,
            Corner::BottomLeft | Corner::BottomRight => height - INSET_MARGIN - h - step,
        };
        cells.push(Rect { x, y, w, h });
    }
    cells
}

/// The close mark of an inset: a square in its top-right corner (a fifth of its height,
/// at least 32 pixels: a finger's).
pub fn close_mark(cell: Rect) -> Rect {
    let side = (cell.h / 5).max(32).min(cell.w).min(cell.h);
    Rect {
        x: cell.x + cell.w - side,
        y: cell.y,
        w: side,
        h: side,
    }
}

/// Space around and between the action bar's buttons, pixels.
const BAR_GAP: u32 = 8;
/// The widest a button of the action bar grows, pixels.
const BAR_BUTTON_MAX: u32 = 200;

/// The action bar of a focused camera: `n` buttons side by side along the bottom of `cell`,
/// centred, each touch-sized (48 to 96 pixels high, an eighth of the cell) and at most
/// 200 wide. Empty when none fits.
pub fn bar_buttons(cell: Rect, n: usize) -> Vec<Rect> {
    let n32 = n as u32;
    if n == 0 || cell.w <= BAR_GAP * (n32 + 1) || cell.h < 48 + 2 * BAR_GAP {
        return Vec::new();
    }
    let h = (cell.h / 8).clamp(48, 96);
    let w = ((cell.w - BAR_GAP * (n32 + 1)) / n32).min(BAR_BUTTON_MAX);
    let total = w * n32 + BAR_GAP * (n32 - 1);
    let x0 = cell.x + (cell.w - total) / 2;
    let y = cell.y + cell.h - h - BAR_GAP;
    (0..n32)
        .map(|k| Rect {
            x: x0 + k * (w + BAR_GAP),
            y,
            w,
            h,
        })
        .collect()
}

/// Whether `(x, y)` is inside `r`.
pub fn contains(r: Rect, x: f64, y: f64) -> bool {
    x >= f64::from(r.x)
        && y >= f64::from(r.y)
        && x < f64::from(r.x + r.w)
        && y < f64::from(r.y + r.h)
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
    fn layouts_parse() {
        assert_eq!("grid".parse(), Ok(Layout::Auto));
        assert_eq!("main".parse(), Ok(Layout::Main));
        assert_eq!("3x2".parse(), Ok(Layout::Grid { cols: 3, rows: 2 }));
        for bad in ["", "3x", "0x2", "17x1", "big", "2x2x2"] {
            assert!(bad.parse::<Layout>().is_err(), "{bad}");
        }
    }

    /// No two cells overlap and every cell is inside the target.
    fn disjoint(cells: &[Rect], w: u32, h: u32) {
        for (i, a) in cells.iter().enumerate() {
            assert!(a.x + a.w <= w && a.y + a.h <= h, "{a:?}");
            for b in &cells[i + 1..] {
                let apart =
                    a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
                assert!(apart || a.w == 0 || b.w == 0, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn main_layout_has_one_large_tile() {
        for n in 1..=12 {
            let cells = Layout::Main.cells(n, 1920, 1080);
            assert_eq!(cells.len(), n);
            disjoint(&cells, 1920, 1080);
            let big = cells[0].w * cells[0].h;
            assert!(
                cells[1..].iter().all(|c| c.w > 0 && c.w * c.h * 2 <= big),
                "{n}: {cells:?}"
            );
        }
        // 1+5: the large tile is two thirds of each side.
        let c = Layout::Main.cells(6, 1920, 1080);
        assert_eq!(
            c[0],
            Rect {
                x: 0,
                y: 0,
                w: 1280,
                h: 720
            }
        );
        assert_eq!(
            c[1],
            Rect {
                x: 1280,
                y: 0,
                w: 640,
                h: 360
            }
        );
        assert_eq!(
            c[5],
            Rect {
                x: 1280,
                y: 720,
                w: 640,
                h: 360
            }
        );
        assert_eq!(
            Layout::Main.cells(1, 100, 50)[0],
            Rect {
                x: 0,
                y: 0,
                w: 100,
                h: 50
            }
        );
    }

    #[test]
    fn fixed_grids_fill_row_by_row() {
        let g = Layout::Grid { cols: 3, rows: 1 };
        let cells = g.cells(4, 1200, 400);
        disjoint(&cells, 1200, 400);
        assert_eq!(
            cells[2],
            Rect {
                x: 800,
                y: 0,
                w: 400,
                h: 400
            }
        );
        assert_eq!(cells[3].w, 0, "past the grid: not shown");
        assert_eq!(g.capacity(), Some(3));
        assert_eq!(
            Layout::Auto.cells(3, 1001, 701),
            (0..3).map(|i| cell(i, 3, 1001, 701)).collect::<Vec<_>>()
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

    /// The action bar stays inside its cell, its buttons apart, touch-sized, centred.
    #[test]
    fn bar_buttons_fit() {
        let cell = Rect {
            x: 100,
            y: 50,
            w: 1280,
            h: 720,
        };
        let b = bar_buttons(cell, 5);
        assert_eq!(b.len(), 5);
        for r in &b {
            assert!(r.x >= cell.x && r.x + r.w <= cell.x + cell.w);
            assert!(r.y >= cell.y && r.y + r.h <= cell.y + cell.h);
            assert!(r.h >= 48 && r.w <= 200);
        }
        assert!(b.windows(2).all(|p| p[0].x + p[0].w < p[1].x));
        let left = b[0].x - cell.x;
        let right = cell.x + cell.w - (b[4].x + b[4].w);
        assert!(left.abs_diff(right) <= 1, "centred: {left} {right}");
        assert!(contains(
            b[2],
            f64::from(b[2].x) + 1.0,
            f64::from(b[2].y) + 1.0
        ));
        assert!(!contains(b[2], f64::from(b[1].x), f64::from(b[1].y)));
        // Narrow cells squeeze the buttons; none at all when nothing fits.
        let narrow = Rect { w: 300, ..cell };
        assert!(bar_buttons(narrow, 12).iter().all(|r| r.x + r.w <= 400));
        assert!(bar_buttons(Rect { w: 40, ..cell }, 12).is_empty());
        assert!(bar_buttons(cell, 0).is_empty());
    }

    /// Insets stack from their corner inside the screen, over the page's own cells; those
    /// that do not fit are empty; the close mark sits in an inset's top-right corner.
    #[test]
    fn insets_stack_from_their_corner() {
        let ins = |count, corner| {
            Some(Insets {
                count,
                corner,
                size: 0.25,
            })
        };
        let cells = screen_cells(Layout::Auto, ins(2, Corner::BottomRight), 6, 1280, 720);
        assert_eq!(cells.len(), 6);
        assert_eq!(&cells[..4], &Layout::Auto.cells(4, 1280, 720)[..]);
        let (a, b) = (cells[4], cells[5]);
        assert_eq!((a.w, a.h), (320, 180));
        assert_eq!((a.x + a.w, a.y + a.h), (1280 - 16, 720 - 16));
        assert_eq!(
            (b.x, b.y + b.h + 16),
            (a.x, a.y),
            "the second above the first"
        );
        let top = screen_cells(Layout::Auto, ins(1, Corner::TopLeft), 2, 1280, 720);
        assert_eq!((top[1].x, top[1].y), (16, 16));
        let many = screen_cells(Layout::Auto, ins(5, Corner::TopRight), 6, 1280, 720);
        assert!(many[1..4].iter().all(|c| c.w > 0));
        assert_eq!(many[5].w, 0, "no room for a fifth");
        assert_eq!(
            screen_cells(Layout::Main, None, 3, 1280, 720),
            Layout::Main.cells(3, 1280, 720)
        );
        let x = close_mark(a);
        assert!(x.x + x.w == a.x + a.w && x.y == a.y && x.w >= 32 && x.w <= a.w);
        assert_eq!("top-left".parse::<Corner>(), Ok(Corner::TopLeft));
        assert!("middle".parse::<Corner>().is_err());
    }
}
