//! Batches of inputs: the installed Fashion-MNIST test and training sets, IDX files
//! (gzip or plain) and raw u8 files of several inputs.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Where Debian's `dataset-fashion-mnist` installs the IDX files; the environment
/// variable `REVSPIKE_DATASETS` names another root.
pub const DEFAULT_ROOT: &str = "/usr/share/datasets";

/// Inputs, with labels when the source has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Samples {
    pub inputs: Vec<Vec<u8>>,
    pub labels: Option<Vec<u8>>,
    /// Where the samples came from, for messages.
    pub source: String,
}

impl Samples {
    /// Keeps `count` samples starting at `offset`.
    pub fn window(mut self, offset: usize, count: Option<usize>) -> Result<Samples> {
        let n = self.inputs.len();
        if offset >= n && n > 0 {
            bail!("{}: offset {offset} is past its {n} samples", self.source);
        }
        let end = count.map_or(n, |c| (offset + c).min(n));
        self.inputs = self.inputs.drain(offset.min(n)..end).collect();
        if let Some(l) = &mut self.labels {
            *l = l.drain(offset.min(n)..end).collect();
        }
        Ok(self)
    }
}

/// An IDX array: dimensions and the raw u8 data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Whether `bytes` start like an IDX u8 file (gzip-compressed or not).
pub fn looks_like_idx(bytes: &[u8]) -> bool {
    is_gzip(bytes) || (bytes.len() >= 4 && bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0x08)
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// Parses an IDX file of unsigned bytes (type 0x08), gunzipping it first if needed.
pub fn parse_idx(bytes: &[u8]) -> Result<Idx> {
    let plain;
    let b: &[u8] = if is_gzip(bytes) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .context("not a valid gzip stream")?;
        plain = out;
        &plain
    } else {
        bytes
    };
    if b.len() < 4 || b[0] != 0 || b[1] != 0 {
        bail!("not an IDX file (bad magic)");
    }
    if b[2] != 0x08 {
        bail!(
            "IDX element type 0x{:02x} is not unsigned byte (0x08)",
            b[2]
        );
    }
    let nd = b[3] as usize;
    if nd == 0 || b.len() < 4 + 4 * nd {
        bail!("IDX header is truncated ({nd} dimensions)");
    }
    let dims: Vec<usize> = (0..nd)
        .map(|k| {
            u32::from_be_bytes([b[4 + 4 * k], b[5 + 4 * k], b[6 + 4 * k], b[7 + 4 * k]]) as usize
        })
        .collect();
    let total = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .context("IDX dimensions overflow")?;
    let data = &b[4 + 4 * nd..];
    if data.len() != total {
        bail!(
            "IDX dimensions {dims:?} need {total} bytes of data, the file has {}",
            data.len()
        );
    }
    Ok(Idx {
        dims,
        data: data.to_vec(),
    })
}

/// Reads an IDX file.
pub fn read_idx(path: &Path) -> Result<Idx> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    parse_idx(&bytes).with_context(|| path.display().to_string())
}

/// The IDX files of a named dataset: `fashion-mnist` (the test split),
/// `fashion-mnist:test` or `fashion-mnist:train`.
pub fn dataset_files(spec: &str) -> Result<(PathBuf, PathBuf)> {
    let (name, split) = spec.split_once(':').unwrap_or((spec, "test"));
    let prefix = match split {
        "test" | "t10k" => "t10k",
        "train" => "train",
        other => bail!("dataset '{spec}': unknown split '{other}' (test or train)"),
    };
    match name {
        "fashion-mnist" => {}
        other => bail!("unknown dataset '{other}' (known: fashion-mnist[:test|:train])"),
    }
    let root = std::env::var_os("REVSPIKE_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
        .join(name);
    Ok((
        root.join(format!("{prefix}-images-idx3-ubyte.gz")),
        root.join(format!("{prefix}-labels-idx1-ubyte.gz")),
    ))
}

fn split_items(idx: &Idx, input_len: usize, what: &str) -> Result<Vec<Vec<u8>>> {
    let item: usize = idx.dims[1..].iter().product();
    if item != input_len {
        bail!(
            "{what}: each item is {} = {item} bytes, the model takes {input_len}",
            idx.dims[1..]
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x")
        );
    }
    Ok(idx.data.chunks(item.max(1)).map(|c| c.to_vec()).collect())
}

/// Loads a named dataset (see [`dataset_files`]) for a model taking `input_len` bytes.
pub fn load_dataset(spec: &str, input_len: usize) -> Result<Samples> {
    let (images, labels) = dataset_files(spec)?;
    if !images.exists() {
        bail!(
            "{}: not found (install it with scripts/setup.sh, package dataset-fashion-mnist)",
            images.display()
        );
    }
    let idx = read_idx(&images)?;
    let inputs = split_items(&idx, input_len, &images.display().to_string())?;
    let lab = read_idx(&labels)?;
    if lab.dims.len() != 1 || lab.dims[0] != inputs.len() {
        bail!(
            "{}: {:?} labels for {} images",
            labels.display(),
            lab.dims,
            inputs.len()
        );
    }
    Ok(Samples {
        inputs,
        labels: Some(lab.data),
        source: spec.to_string(),
    })
}

/// Reads a file of several inputs: IDX (gzip or plain, items of `input_len`
/// bytes), or raw u8 bytes, `input_len` per input.
pub fn load_inputs_file(path: &Path, input_len: usize) -> Result<Samples> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let source = path.display().to_string();
    if looks_like_idx(&bytes) {
        // A raw file may start with the IDX magic by chance: it is only taken as
        // IDX when its header and length agree.
        match parse_idx(&bytes) {
            Ok(idx) => {
                let inputs = split_items(&idx, input_len, &source)?;
                return Ok(Samples {
                    inputs,
                    labels: None,
                    source,
                });
            }
            Err(e) if input_len == 0 || bytes.len() % input_len != 0 => {
                return Err(e.context(source));
            }
            Err(_) => {}
        }
    }
    if input_len == 0 || bytes.is_empty() || bytes.len() % input_len != 0 {
        bail!(
            "{source}: {} bytes is not a whole number of {input_len}-byte inputs",
            bytes.len()
        );
    }
    Ok(Samples {
        inputs: bytes.chunks(input_len).map(|c| c.to_vec()).collect(),
        labels: None,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn idx_plain_and_gzip_parse_alike() {
        let raw = idx(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let a = parse_idx(&raw).unwrap();
        assert_eq!(a.dims, vec![2, 2, 3]);
        let mut gz = Vec::new();
        {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
            e.write_all(&raw).unwrap();
        }
        assert_eq!(parse_idx(&gz).unwrap(), a);
        assert_eq!(
            split_items(&a, 6, "x").unwrap()[1],
            vec![7, 8, 9, 10, 11, 12]
        );
        let e = split_items(&a, 5, "x").unwrap_err().to_string();
        assert!(e.contains("2x3 = 6 bytes, the model takes 5"), "{e}");
    }

    #[test]
    fn bad_idx_is_an_error_not_a_panic() {
        assert!(parse_idx(&[0, 0, 8]).is_err());
        assert!(parse_idx(&idx(&[3], &[1, 2])).is_err());
        assert!(parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 0]).is_err());
        assert!(parse_idx(&[0x1f, 0x8b, 1, 2, 3]).is_err());
        assert!(parse_idx(&[0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn dataset_names() {
        let (i, l) = dataset_files("fashion-mnist").unwrap();
        assert!(i.ends_with("fashion-mnist/t10k-images-idx3-ubyte.gz"));
        assert!(l.ends_with("fashion-mnist/t10k-labels-idx1-ubyte.gz"));
        let (i, _) = dataset_files("fashion-mnist:train").unwrap();
        assert!(i.ends_with("train-images-idx3-ubyte.gz"));
        assert!(dataset_files("mnist").is_err());
        assert!(dataset_files("fashion-mnist:val").is_err());
    }

    #[test]
    fn installed_fashion_mnist_test_split_loads_with_labels() {
        let (i, _) = dataset_files("fashion-mnist").unwrap();
        if !i.exists() {
            eprintln!("skipped: {} not installed", i.display());
            return;
        }
        let s = load_dataset("fashion-mnist", 784).unwrap();
        assert_eq!(s.inputs.len(), 10_000);
        assert_eq!(s.labels.as_ref().unwrap().len(), 10_000);
        assert!(s.labels.as_ref().unwrap().iter().all(|&l| l < 10));
        let w = s.window(9_998, Some(5)).unwrap();
        assert_eq!(w.inputs.len(), 2);
        assert_eq!(w.labels.unwrap().len(), 2);
    }

    #[test]
    fn raw_files_split_into_inputs() {
        let dir = std::env::temp_dir().join(format!("revspike-ds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("raw.bin");
        std::fs::write(&p, [1u8, 2, 3, 4, 5, 6]).unwrap();
        let s = load_inputs_file(&p, 3).unwrap();
        assert_eq!(s.inputs, vec![vec![1, 2, 3], vec![4, 5, 6]]);
        let e = load_inputs_file(&p, 4).unwrap_err().to_string();
        assert!(
            e.contains("6 bytes is not a whole number of 4-byte inputs"),
            "{e}"
        );
        let q = dir.join("x.idx");
        std::fs::write(&q, idx(&[2, 3], &[9, 9, 9, 8, 8, 8])).unwrap();
        assert_eq!(load_inputs_file(&q, 3).unwrap().inputs[1], vec![8, 8, 8]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
