//! Text output for both binaries: [`emit`] writes a command's output to
//! stdout, and [`render_table`] lays out aligned tables (`build explain`,
//! `status`): columns padded to their widest cell, two blanks between them,
//! no trailing blanks.

/// Write a command's whole output to stdout. A reader that went away
/// (`... | head`) ends the output quietly instead of a panic from `print!`.
pub fn emit(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A table with a header row; cells are padded by character count.
pub fn render_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    render_table_painted(header, rows, |_, _, cell| cell)
}

/// [`render_table`], with `paint(row, column, padded_cell)` wrapping body
/// cells (e.g. in terminal colours) after padding, so alignment holds.
pub fn render_table_painted<const N: usize>(
    header: [&str; N],
    rows: &[[String; N]],
    paint: impl Fn(usize, usize, String) -> String,
) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N], row: Option<usize>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let padded = if i + 1 == N {
                cell.to_string()
            } else {
                format!("{cell:<w$}", w = widths[i])
            };
            out.push_str(&match row {
                Some(r) => paint(r, i, padded),
                None => padded,
            });
            if i + 1 < N {
                out.push_str("  ");
            }
        }
        format!("{}\n", out.trim_end())
    };
    let mut text = line(header, None);
    for (r, row) in rows.iter().enumerate() {
        text.push_str(&line(row.each_ref().map(String::as_str), Some(r)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_end_clean() {
        let rows = [
            ["net.ipv4.tcp_sack".to_string(), "0".into(), "".into()],
            ["k".to_string(), "1234".into(), "last".into()],
        ];
        assert_eq!(
            render_table(["KEY", "V", "NOTE"], &rows),
            "KEY                V     NOTE\nnet.ipv4.tcp_sack  0\nk                  1234  last\n"
        );
    }

    #[test]
    fn paint_wraps_padded_body_cells_only() {
        let rows = [["a".to_string(), "b".into()]];
        let text =
            render_table_painted(["COL", "X"], &rows, |r, c, cell| format!("<{r}{c}{cell}>"));
        assert_eq!(text, "COL  X\n<00a  >  <01b>\n");
    }
}
