//! A `.npy` file written slice by slice, in any order: the header first, the file sized to
//! its final length, then each slice at its offset. The `equilibrium` scheme streams each
//! time step's actions this way, so a fine grid's policy never has to fit in memory. The file
//! lives under a temporary name beside its destination until [`NpyStream::persist`].

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// An element type of a streamed array.
pub trait NpyElement: bytemuck::Pod {
    /// NumPy's dtype string (little-endian).
    const DESCR: &'static str;
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
}

impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
}

/// The version 1.0 header of an array of `shape`, padded to a multiple of 64 bytes.
pub fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

pub struct NpyStream<T: NpyElement> {
    file: tempfile::NamedTempFile,
    header_len: u64,
    len: usize,
    destination: PathBuf,
    _element: std::marker::PhantomData<T>,
}

impl<T: NpyElement> NpyStream<T> {
    /// Creates the file for an array of `shape`, all zeros until written.
    pub fn create(destination: &Path, shape: &[usize]) -> Result<Self, Error> {
        let dir = destination
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut file = crate::output::temp_file_in(dir)?;
        let head = header(T::DESCR, shape);
        let len: usize = shape.iter().product();
        let io = |e| Error::io(destination, e);
        file.write_all(&head).map_err(io)?;
        file.as_file()
            .set_len(head.len() as u64 + (len * size_of::<T>()) as u64)
            .map_err(io)?;
        Ok(NpyStream {
            file,
            header_len: head.len() as u64,
            len,
            destination: destination.to_path_buf(),
            _element: std::marker::PhantomData,
        })
    }

    /// Writes `values` starting at flat element index `at`.
    pub fn write(&mut self, at: usize, values: &[T]) -> Result<(), Error> {
        assert!(at + values.len() <= self.len, "write beyond the array");
        let offset = self.header_len + (at * size_of::<T>()) as u64;
        let f = self.file.as_file_mut();
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(&self.destination, e))?;
        f.write_all(bytemuck::cast_slice(values))
            .map_err(|e| Error::io(&self.destination, e))
    }

    /// Reads the element at flat index `at`.
    pub fn read(&mut self, at: usize) -> Result<T, Error> {
        let offset = self.header_len + (at * size_of::<T>()) as u64;
        let f = self.file.as_file_mut();
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(&self.destination, e))?;
        let mut value = T::zeroed();
        f.read_exact(bytemuck::bytes_of_mut(&mut value))
            .map_err(|e| Error::io(&self.destination, e))?;
        Ok(value)
    }

    /// Moves the finished file to its destination.
    pub fn persist(self) -> Result<(), Error> {
        self.file
            .as_file()
            .sync_data()
            .map_err(|e| Error::io(&self.destination, e))?;
        self.file
            .persist(&self.destination)
            .map_err(|e| Error::io(&self.destination, e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_array_reads_back_with_ndarray_npy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let mut s = NpyStream::<f32>::create(&path, &[2, 3, 4]).unwrap();
        s.write(12, &[1.0, 2.0, 3.0]).unwrap();
        s.write(0, &[-1.0]).unwrap();
        assert_eq!(s.read(13).unwrap(), 2.0);
        s.persist().unwrap();
        let a: ndarray::Array3<f32> = ndarray_npy::read_npy(&path).unwrap();
        assert_eq!(a[[1, 0, 0]], 1.0);
        assert_eq!(a[[1, 0, 2]], 3.0);
        assert_eq!(a[[0, 0, 0]], -1.0);
        assert_eq!(a[[0, 2, 3]], 0.0);
        assert_eq!(header("<f8", &[7]).len() % 64, 0);
    }
}
