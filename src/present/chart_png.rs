//! PLACEHOLDER for the PNG chart renderer (issue 23; the real renderer replaces this file at
//! merge). The interface is the real one; the image is a blank `WIDTH`×`HEIGHT` PNG, written
//! with stored (uncompressed) deflate blocks, so the upload path can be built and tested.

use crate::present::postmortem::Postmortem;

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 360;

/// A rendered chart: the PNG bytes, what it shows in words (for screen readers and the
/// platforms' alt text), and its title.
pub struct ChartImage {
    pub png: Vec<u8>,
    pub alt_text: String,
    pub title: String,
}

/// The chart of `criterion` over the deploy `p`, cut at `until_ms` when given.
pub fn criterion_png(
    p: &Postmortem,
    criterion: &str,
    until_ms: Option<i64>,
) -> Result<ChartImage, String> {
    let points = p
        .samples
        .get(criterion)
        .map(|s| {
            s.iter()
                .filter(|pt| until_ms.is_none_or(|u| pt.at_ms <= u))
                .count()
        })
        .unwrap_or(0);
    if points == 0 {
        return Err(format!("no samples of {criterion} to chart"));
    }
    Ok(ChartImage {
        png: blank_png(WIDTH, HEIGHT),
        alt_text: format!("Chart of {criterion}: {points} checks of canary against baseline."),
        title: format!("{criterion} — {}", p.deploy.info.service),
    })
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A white greyscale PNG of `width`×`height`.
fn blank_png(width: u32, height: u32) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((width + 1) * height) as usize);
    for _ in 0..height {
        raw.push(0); // filter: none
        raw.extend(std::iter::repeat_n(0xffu8, width as usize));
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_placeholder_is_a_png_of_the_size() {
        let png = super::blank_png(super::WIDTH, super::HEIGHT);
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().expect("a PNG");
        assert_eq!(
            (reader.info().width, reader.info().height),
            (super::WIDTH, super::HEIGHT)
        );
    }
}
