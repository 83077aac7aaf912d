//! NumPy `.npy` files through `ndarray-npy`: whole arrays written at once ([`write_array`]),
//! arrays streamed slice by slice into a memory-mapped file ([`NpyStream`]), and float
//! arrays read back by ranges from a memory-mapped file ([`NpyFile`]). Memory maps let a fine
//! grid's arrays (GBs) be written and read without ever holding them in memory.

use std::fs::File;
use std::io::ErrorKind;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use ndarray::ArrayViewD;
use ndarray_npy::npy::header::Header;
use ndarray_npy::{
    ViewElement, ViewMutElement, ViewNpyError, ViewNpyExt, WritableElement, WriteNpyExt,
};

use crate::error::Error;
use crate::io::{temp_file_in, write_atomic};

/// An element type `NpyStream` can hold: f32, f64, u8, i8 and the other primitive numbers.
pub trait NpyElement: WritableElement + ViewElement + ViewMutElement + bytemuck::Pod {}

impl<T: WritableElement + ViewElement + ViewMutElement + bytemuck::Pod> NpyElement for T {}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk now, without
/// waiting. A fine grid's policy is gigabytes: left to the page cache's timers, most of it
/// would still be dirty when `persist` syncs the file, and the run would wait for all of it
/// at the end. A hint: if the call fails, that sync writes the bytes.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: usize) {
    use std::os::fd::AsRawFd;
    // SAFETY: a system call on our own open descriptor, with no memory passed.
    let _ = unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: usize) {}

/// Writes to a file that bypass the page cache (`O_DIRECT`), for the block-aligned middle of
/// large slices. On the 101×401²×51 equilibrium run, copying the 1.66 GB policy into fresh
/// page-cache pages and writing them back took 3–4 s of system time on a 2-core VM, taken from
/// the solver's threads; a direct write has the disk read the bytes from this buffer.
#[cfg(target_os = "linux")]
struct Direct {
    file: File,
    /// Holds a `CHUNK`-long, `ALIGN`-aligned window: direct writes need aligned memory,
    /// offsets and lengths.
    buffer: Vec<u8>,
}

#[cfg(target_os = "linux")]
impl Direct {
    /// Alignment of the memory, offsets and lengths of direct writes (the page size, a
    /// multiple of every common logical block size).
    const ALIGN: usize = 4096;
    const CHUNK: usize = 8 << 20;
    /// Smaller aligned middles, and files under `MIN_FILE`, go through the page cache.
    const MIN_WRITE: usize = 1 << 20;
    const MIN_FILE: u64 = 64 << 20;

    /// A direct handle on `path`, or None where the file is small or the file system refuses
    /// `O_DIRECT` (tmpfs): the page cache then takes every write.
    fn open(path: &Path, file_len: u64) -> Option<Direct> {
        use std::os::unix::fs::OpenOptionsExt;
        if file_len < Self::MIN_FILE {
            return None;
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok()?;
        Some(Direct {
            file,
            buffer: vec![0; Self::CHUNK + Self::ALIGN],
        })
    }

    /// The part of `offset..offset + len` to write directly: whole aligned blocks, if they
    /// come to `MIN_WRITE` bytes.
    fn middle(offset: u64, len: usize) -> Option<std::ops::Range<u64>> {
        let align = Self::ALIGN as u64;
        let (start, end) = (
            offset.next_multiple_of(align),
            (offset + len as u64) / align * align,
        );
        (end >= start + Self::MIN_WRITE as u64).then_some(start..end)
    }

    /// Writes `bytes` (whole blocks) at the aligned `offset`, through the aligned buffer.
    fn write(&mut self, bytes: &[u8], offset: u64) -> std::io::Result<()> {
        let skip = self.buffer.as_ptr().align_offset(Self::ALIGN);
        let window = &mut self.buffer[skip..][..Self::CHUNK];
        let mut at = offset;
        for chunk in bytes.chunks(Self::CHUNK) {
            window[..chunk.len()].copy_from_slice(chunk);
            write_all_at(&self.file, &window[..chunk.len()], at)?;
            at += chunk.len() as u64;
        }
        Ok(())
    }
}

/// Writes all of `bytes` at `offset` of `file`, without moving its cursor.
#[cfg(unix)]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

/// Writes all of `bytes` at `offset` of `file` (through a second handle, so that the
/// file's own cursor does not matter).
#[cfg(not(unix))]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(offset))?;
    f.write_all(bytes)
}

/// A programming error (a shape or an offset that does not fit), reported against the file.
fn invalid(path: &Path, why: String) -> Error {
    Error::io(path, std::io::Error::new(ErrorKind::InvalidInput, why))
}

/// The number of elements of `shape`, or `None` on overflow.
fn elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Writes `data` (C order) as an array of `shape` to `path`, atomically.
pub fn write_array<T: WritableElement>(
    path: &Path,
    shape: &[usize],
    data: &[T],
) -> Result<(), Error> {
    if elements(shape) != Some(data.len()) {
        return Err(invalid(
            path,
            format!(
                "{} elements do not make an array of shape {shape:?}",
                data.len()
            ),
        ));
    }
    let view = ArrayViewD::from_shape(shape, data)
        .map_err(|e| invalid(path, format!("shape {shape:?}: {e}")))?;
    write_atomic(path, |w| view.write_npy(w).map_err(std::io::Error::other))
}

/// ndarray-npy refusing a stream's file it wrote, or not viewing it in C order: a bug.
fn view_bug(path: &Path, e: Option<ViewNpyError>) -> Error {
    let why = e.map_or("not in C order".into(), |e| e.to_string());
    Error::io(path, std::io::Error::other(why))
}

/// An array of `shape` written slice by slice, in any order, into a file that lives under a
/// temporary name beside its destination until [`NpyStream::persist`] (dropped unpersisted,
/// it is deleted). The `equilibrium` scheme streams each time step's actions this way, so a
/// fine grid's policy never has to fit in memory. Slices are written with `pwrite` (on Linux
/// the block-aligned middle of a large file's large slices bypasses the page cache: see
/// `Direct`), and elements read back through a read-only view of the map.
pub struct NpyStream<T: NpyElement> {
    file: tempfile::NamedTempFile,
    /// Read-only: the solver writes with `pwrite` (see [`NpyStream::write`]).
    map: Mmap,
    len: usize,
    destination: PathBuf,
    #[cfg(target_os = "linux")]
    direct: Option<Direct>,
    _element: PhantomData<T>,
}

impl<T: NpyElement> NpyStream<T> {
    /// Creates the file for an array of `shape`, all zeros until written.
    pub fn create(destination: &Path, shape: &[usize]) -> Result<Self, Error> {
        let io = |e| Error::io(destination, e);
        let len = elements(shape)
            .filter(|n| {
                n.checked_mul(size_of::<T>())
                    .is_some_and(|b| b <= isize::MAX as usize)
            })
            .ok_or_else(|| {
                Error::TooLarge(format!(
                    "{}: an array of shape {shape:?} is too large to address",
                    destination.display()
                ))
            })?;
        let dir = destination
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file = temp_file_in(dir)?;
        ndarray_npy::write_zeroed_npy::<T, _>(file.as_file(), shape)
            .map_err(|e| io(std::io::Error::other(e)))?;
        // The zeroed file is sparse; a write through the map into a hole that the disk has no
        // room for is a SIGBUS, not an error, so reserve the blocks now while failing is
        // still an error. Where the file system cannot reserve (no fallocate), stay sparse.
        let total = file.as_file().metadata().map_err(io)?.len();
        if let Err(e) = fs4::fs_std::FileExt::allocate(file.as_file(), total) {
            if matches!(
                e.kind(),
                ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge
            ) {
                return Err(io(e));
            }
        }
        // SAFETY: the file is ours, under a fresh temporary name; nothing else maps or
        // truncates it while the map lives.
        let map = unsafe { Mmap::map(file.as_file()) }.map_err(io)?;
        let stream = NpyStream {
            #[cfg(target_os = "linux")]
            direct: Direct::open(file.path(), total),
            file,
            map,
            len,
            destination: destination.to_path_buf(),
            _element: PhantomData,
        };
        stream.elements()?;
        Ok(stream)
    }

    // Each call views the map afresh, parsing the header: about 40 µs (release, measured). The
    // solver writes two slices per time step and reads two elements per path step, so that is
    // noise beside the solve, and no offset is kept by hand.
    fn elements(&self) -> Result<&[T], Error> {
        let bug = |e| view_bug(&self.destination, e);
        let view = ArrayViewD::<T>::view_npy(&self.map).map_err(|e| bug(Some(e)))?;
        view.to_slice().ok_or_else(|| bug(None))
    }

    /// Writes `values` starting at flat element index `at`. With `pwrite`, not through the
    /// map: a store to a mapped page of the file first faults it in, reading (and zeroing) it
    /// from the file, which was a fifth of a 101×401²×11 equilibrium solve (measured); and
    /// the pages never become part of this process, so its memory stays flat.
    pub fn write(&mut self, at: usize, values: &[T]) -> Result<(), Error> {
        let len = self.len;
        let end = at.checked_add(values.len()).filter(|&end| end <= len);
        let Some(end) = end else {
            return Err(invalid(
                &self.destination,
                format!(
                    "writing {} elements at {at} goes beyond the array's {len}",
                    values.len()
                ),
            ));
        };
        let data = (self.map.len() - self.len * size_of::<T>()) as u64;
        let offset = data + (at * size_of::<T>()) as u64;
        let bytes: &[u8] = bytemuck::cast_slice(values);
        debug_assert!(end <= len);
        #[cfg(target_os = "linux")]
        if let (Some(direct), Some(middle)) =
            (&mut self.direct, Direct::middle(offset, bytes.len()))
        {
            let (head, rest) = bytes.split_at((middle.start - offset) as usize);
            let (mid, tail) = rest.split_at((middle.end - middle.start) as usize);
            match direct.write(mid, middle.start) {
                Ok(()) => {
                    self.buffered(head, offset)?;
                    return self.buffered(tail, middle.end);
                }
                // Alignment this file system does not take: the page cache takes it all.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.direct = None,
                Err(e) => return Err(Error::io(&self.destination, e)),
            }
        }
        self.buffered(bytes, offset)
    }

    /// Writes `bytes` at `offset` through the page cache, and starts their writeback.
    fn buffered(&self, bytes: &[u8], offset: u64) -> Result<(), Error> {
        // (A writeback of length 0 would mean "to the end of the file".)
        if bytes.is_empty() {
            return Ok(());
        }
        write_all_at(self.file.as_file(), bytes, offset)
            .map_err(|e| Error::io(&self.destination, e))?;
        start_writeback(self.file.as_file(), offset, bytes.len());
        Ok(())
    }

    /// Reads the element at flat index `at`.
    pub fn read(&self, at: usize) -> Result<T, Error> {
        self.elements()?.get(at).copied().ok_or_else(|| {
            invalid(
                &self.destination,
                format!("element {at} is beyond the array's {}", self.len),
            )
        })
    }

    /// Flushes the file and moves it to its destination.
    pub fn persist(self) -> Result<(), Error> {
        let io = |e| Error::io(&self.destination, e);
        drop(self.map);
        self.file.as_file().sync_data().map_err(io)?;
        self.file
            .persist(&self.destination)
            .map_err(|e| Error::io(&self.destination, e.error))?;
        let dir = self
            .destination
            .parent()
            .filter(|p| !p.as_os_str().is_empty());
        crate::io::sync_dir(dir.unwrap_or(Path::new(".")))
    }
}

/// A float64, float32 or int8 `.npy` file (C order: values and policies), memory-mapped and
/// read by ranges of elements as f64, so a large run's arrays need not fit in memory.
pub struct NpyFile {
    map: Mmap,
    path: PathBuf,
    shape: Vec<usize>,
    kind: Kind,
}

/// The element types [`NpyFile`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    F64,
    F32,
    I8,
}

impl NpyFile {
    pub fn open(path: &Path) -> Result<Self, Error> {
        let bad = |why: String| Error::Input(format!("{}: {why}", path.display()));
        let file = File::open(path).map_err(|e| bad(format!("cannot read ({e})")))?;
        // SAFETY: the map is read-only; a finished run's files are not modified in place
        // (every output is written under a temporary name and renamed).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| bad(format!("cannot read ({e})")))?;
        // The header alone first, for the descriptor and shape the messages below name.
        let header =
            Header::from_reader(&mut &map[..]).map_err(|_| bad("not a .npy file".into()))?;
        let shape = header.shape.clone();
        let why = |e: ViewNpyError| match e {
            ViewNpyError::WrongDescriptor(_) | ViewNpyError::NonNativeEndian => format!(
                "holds {}, expected little-endian float64, float32 or int8",
                header.type_descriptor
            ),
            ViewNpyError::MissingBytes(_) | ViewNpyError::LengthOverflow => {
                format!("is truncated (shape {shape:?})")
            }
            ViewNpyError::ExtraBytes(n) => {
                format!("has {n} bytes after its data (shape {shape:?})")
            }
            ViewNpyError::MisalignedData => "has its data misaligned".into(),
            _ => "not a .npy file".into(),
        };
        let is_type = |e: &ViewNpyError| {
            matches!(
                e,
                ViewNpyError::WrongDescriptor(_) | ViewNpyError::NonNativeEndian
            )
        };
        let (kind, standard) = match ArrayViewD::<f64>::view_npy(&map) {
            Ok(v) => (Kind::F64, v.is_standard_layout()),
            Err(e) if is_type(&e) => match ArrayViewD::<f32>::view_npy(&map) {
                Ok(v) => (Kind::F32, v.is_standard_layout()),
                Err(e) if is_type(&e) => match ArrayViewD::<i8>::view_npy(&map) {
                    Ok(v) => (Kind::I8, v.is_standard_layout()),
                    Err(e) => return Err(bad(why(e))),
                },
                Err(e) => return Err(bad(why(e))),
            },
            Err(e) => return Err(bad(why(e))),
        };
        // A Fortran-order header whose layout is also C order (one axis longer than 1) reads
        // the same either way.
        if !standard {
            return Err(bad("is in Fortran order, expected C order".into()));
        }
        Ok(NpyFile {
            map,
            path: path.to_path_buf(),
            shape,
            kind,
        })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// `count` elements from flat index `start`, as f64.
    pub fn read(&self, start: usize, count: usize) -> Result<Vec<f64>, Error> {
        let len = elements(&self.shape).unwrap_or(0);
        let Some(end) = start.checked_add(count).filter(|&end| end <= len) else {
            return Err(Error::Input(format!(
                "{}: elements {start}..{} are beyond its {len}",
                self.path.display(),
                start.saturating_add(count)
            )));
        };
        let io = |e: ViewNpyError| Error::io(&self.path, std::io::Error::other(e));
        let not_c = || Error::Input(format!("{}: not in C order", self.path.display()));
        Ok(match self.kind {
            Kind::F64 => {
                let view = ArrayViewD::<f64>::view_npy(&self.map).map_err(io)?;
                view.to_slice().ok_or_else(not_c)?[start..end].to_vec()
            }
            Kind::F32 => {
                let view = ArrayViewD::<f32>::view_npy(&self.map).map_err(io)?;
                let slice = view.to_slice().ok_or_else(not_c)?;
                slice[start..end].iter().map(|&x| x as f64).collect()
            }
            Kind::I8 => {
                let view = ArrayViewD::<i8>::view_npy(&self.map).map_err(io)?;
                let slice = view.to_slice().ok_or_else(not_c)?;
                slice[start..end].iter().map(|&x| x as f64).collect()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ArrayD};

    /// The hand-written writer this module replaces (src/npy.rs before ndarray-npy), kept to
    /// compare bytes with.
    mod old {
        use std::io::{Seek, SeekFrom, Write};
        use std::path::Path;

        pub trait NpyElement: bytemuck::Pod {
            const DESCR: &'static str;
        }

        impl NpyElement for f32 {
            const DESCR: &'static str = "<f4";
        }

        impl NpyElement for f64 {
            const DESCR: &'static str = "<f8";
        }

        pub fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            let shape = if dims.len() == 1 {
                format!("({},)", dims[0])
            } else {
                format!("({})", dims.join(", "))
            };
            let mut dict =
                format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
            let unpadded = 10 + dict.len() + 1;
            dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
            dict.push('\n');
            let mut out = b"\x93NUMPY\x01\x00".to_vec();
            out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            out.extend_from_slice(dict.as_bytes());
            out
        }

        /// The old NpyStream's create, writes and persist, in one call.
        pub fn stream<T: NpyElement>(path: &Path, shape: &[usize], writes: &[(usize, &[T])]) {
            let mut file = std::fs::File::create(path).unwrap();
            let head = header(T::DESCR, shape);
            let len: usize = shape.iter().product();
            file.write_all(&head).unwrap();
            file.set_len(head.len() as u64 + (len * size_of::<T>()) as u64)
                .unwrap();
            for (at, values) in writes {
                let offset = head.len() as u64 + (at * size_of::<T>()) as u64;
                file.seek(SeekFrom::Start(offset)).unwrap();
                file.write_all(bytemuck::cast_slice(values)).unwrap();
            }
        }
    }

    fn stream<T: NpyElement>(path: &Path, shape: &[usize], writes: &[(usize, &[T])]) {
        let mut s = NpyStream::<T>::create(path, shape).unwrap();
        for (at, values) in writes {
            s.write(*at, values).unwrap();
        }
        s.persist().unwrap();
    }

    /// A file large enough for direct writes, with slices whose ends are not block-aligned
    /// (odd lengths after the header), written out of order like the solver's steps: the
    /// file holds every byte, and reads through the map before `persist` see them.
    #[test]
    fn large_streams_hold_every_byte_written_directly_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.npy");
        let (agents, steps, slice) = (2, 9, 5_000_003);
        let value = |agent: usize, t: usize, i: usize| (i * 7 + t * 3 + agent) as i8;
        let mut s = NpyStream::<i8>::create(&path, &[agents, steps, slice]).unwrap();
        let mut want = vec![0i8; agents * steps * slice];
        // A short write first: it is all fragment, no direct middle.
        s.write(10, &[5; 100]).unwrap();
        want[10..110].fill(5);
        for t in (1..steps).rev() {
            for agent in 0..agents {
                let at = (agent * steps + t) * slice;
                let v: Vec<i8> = (0..slice).map(|i| value(agent, t, i)).collect();
                s.write(at, &v).unwrap();
                want[at..at + slice].copy_from_slice(&v);
            }
        }
        for at in [
            10,
            109,
            110,
            slice - 1,
            slice,
            2 * slice + 17,
            want.len() - 1,
        ] {
            assert_eq!(s.read(at).unwrap(), want[at], "element {at} before persist");
        }
        s.persist().unwrap();
        let got: ArrayD<i8> = ndarray_npy::read_npy(&path).unwrap();
        assert_eq!(got.shape(), &[agents, steps, slice]);
        assert!(
            got.as_slice().unwrap() == &want[..],
            "the file differs from what was written"
        );
    }

    /// The header ndarray-npy writes for `shape`, as write_zeroed_npy and write_npy do.
    fn new_header<T: WritableElement>(shape: &[usize]) -> Vec<u8> {
        Header {
            type_descriptor: T::type_descriptor(),
            layout: ndarray_npy::npy::header::Layout::Standard,
            shape: shape.to_vec(),
        }
        .to_bytes()
        .unwrap()
    }

    /// The shape tuple as both headers write it.
    fn tuple(shape: &[usize]) -> String {
        match shape {
            [d] => format!("({d},)"),
            _ => format!(
                "({})",
                shape
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    #[test]
    fn streamed_files_differ_from_the_old_ones_only_in_the_header_dict_ending() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("new.npy"), dir.path().join("old.npy"));
        let values: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        let writes: [(usize, &[f32]); 3] =
            [(12, &values[..3]), (0, &values[3..4]), (20, &values[20..])];
        stream(&a, &[2, 3, 4], &writes);
        old::stream(&b, &[2, 3, 4], &writes);
        let (new, old) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(new.len(), old.len());
        // Same data at the same offset; the header dicts differ in their last characters.
        assert_eq!(new[128..], old[128..]);
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4)";
        assert_eq!(&new[10..10 + dict.len()], dict.as_bytes());
        assert_eq!(&old[10..10 + dict.len()], dict.as_bytes());
        assert_eq!(&new[10 + dict.len()..10 + dict.len() + 3], b"}  ");
        assert_eq!(&old[10..10 + dict.len() + 3][dict.len()..], b", }");
        assert!(new[10 + dict.len() + 1..127].iter().all(|&c| c == b' '));
        assert!(old[10 + dict.len() + 3..127].iter().all(|&c| c == b' '));
        // Files streamed and files written whole are now the same bytes.
        let whole = dir.path().join("whole.npy");
        let mut all = vec![0f32; 24];
        for (at, v) in writes {
            all[at..at + v.len()].copy_from_slice(v);
        }
        write_array(&whole, &[2, 3, 4], &all).unwrap();
        assert_eq!(std::fs::read(&whole).unwrap(), new);
    }

    #[test]
    fn headers_keep_the_data_offset_unless_the_shape_text_is_1_mod_64_long() {
        // ndarray-npy writes `'shape': (2, 3, 4)}` and pads with two more spaces; NumPy and the
        // old writer wrote `'shape': (2, 3, 4), }`. Only where the old text's two extra
        // characters cross a multiple of 64 does the old header come out 64 bytes longer.
        let mut shapes: Vec<Vec<usize>> = vec![
            vec![],
            vec![0],
            vec![7],
            vec![2, 3, 4],
            vec![2, 0, 3],
            vec![2, 9, 31, 61, 61],
            vec![2, 31, 61, 61],
            vec![2, 513, 1201, 2401, 2401],
            vec![usize::MAX; 5],
        ];
        for dims in 1..40 {
            for digits in [1, 2, 3, 7, 12] {
                shapes.push(vec![10usize.pow(digits - 1); dims]);
            }
        }
        for shape in &shapes {
            for (descr, new) in [
                ("<f4", new_header::<f32>(shape)),
                ("<f8", new_header::<f64>(shape)),
                ("|u1", new_header::<u8>(shape)),
            ] {
                let old = old::header(descr, shape);
                let t = tuple(shape);
                let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {t}");
                assert_eq!(new.len() % 64, 0);
                assert_eq!(new[..8], old[..8]);
                assert_eq!(new[10..10 + dict.len()], *dict.as_bytes());
                assert_eq!(old[10..10 + dict.len()], *dict.as_bytes());
                assert_eq!(new[10 + dict.len()], b'}');
                assert_eq!(old[10 + dict.len()..10 + dict.len() + 3], *b", }");
                let shifted = t.len() % 64 == 1;
                assert_eq!(old.len() == new.len() + 64, shifted, "{shape:?}");
                assert_eq!(new.len() == old.len(), !shifted, "{shape:?}");
            }
        }
        // The solver's shapes are far from that: 4 or 5 axes, data at byte 128.
        assert_eq!(new_header::<f32>(&[2, 513, 1201, 2401, 2401]).len(), 128);
    }

    #[test]
    fn write_array_writes_what_write_values_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let shape = [2, 3, 5, 5];
        let wide: Vec<f64> = (0..150).map(|i| (i as f64).sin()).collect();
        let narrow: Vec<f32> = wide.iter().map(|&x| x as f32).collect();
        for (name, new, old) in [
            (
                "f64",
                {
                    let p = dir.path().join("a.npy");
                    write_array(&p, &shape, &wide).unwrap();
                    std::fs::read(p).unwrap()
                },
                {
                    let mut v = Vec::new();
                    ndarray::ArrayView::from_shape(&shape[..], &wide[..])
                        .unwrap()
                        .write_npy(&mut v)
                        .unwrap();
                    v
                },
            ),
            (
                "f32",
                {
                    let p = dir.path().join("b.npy");
                    write_array(&p, &shape, &narrow).unwrap();
                    std::fs::read(p).unwrap()
                },
                {
                    let mut v = Vec::new();
                    ndarray::ArrayView::from_shape(&shape[..], &narrow[..])
                        .unwrap()
                        .write_npy(&mut v)
                        .unwrap();
                    v
                },
            ),
        ] {
            assert_eq!(new, old, "{name}");
        }
        let back: ArrayD<f64> = ndarray_npy::read_npy(dir.path().join("a.npy")).unwrap();
        assert_eq!(back.shape(), shape);
        assert_eq!(back.as_slice().unwrap(), wide);
    }

    #[test]
    fn write_array_refuses_a_shape_that_does_not_fit_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        for shape in [&[2, 3][..], &[7, 1], &[], &[usize::MAX, 3]] {
            let e = write_array(&p, shape, &[1.0f64; 5]).unwrap_err();
            assert!(matches!(e, Error::Io { .. }), "{e}");
            assert!(e.to_string().contains("a.npy"), "{e}");
        }
        write_array(&p, &[0, 4], &[0u8; 0]).unwrap();
        write_array(&p, &[], &[3.5f32]).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn streamed_arrays_read_back_with_ndarray_npy_and_element_by_element() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let mut s = NpyStream::<f32>::create(&path, &[2, 3, 4]).unwrap();
        s.write(12, &[1.0, 2.0, 3.0]).unwrap();
        s.write(0, &[-1.0]).unwrap();
        s.write(24, &[]).unwrap();
        assert_eq!(s.read(13).unwrap(), 2.0);
        assert_eq!(s.read(23).unwrap(), 0.0);
        // Out of range: an error, not a panic, and nothing written.
        assert!(s.write(22, &[9.0, 9.0, 9.0]).is_err());
        assert!(s.write(usize::MAX, &[9.0]).is_err());
        assert!(s.read(24).is_err());
        assert_eq!(s.read(22).unwrap(), 0.0);
        // Under a temporary name until persisted.
        assert!(!path.exists());
        s.persist().unwrap();
        let a: ndarray::Array3<f32> = ndarray_npy::read_npy(&path).unwrap();
        assert_eq!(a[[1, 0, 0]], 1.0);
        assert_eq!(a[[1, 0, 2]], 3.0);
        assert_eq!(a[[0, 0, 0]], -1.0);
        assert_eq!(a[[0, 2, 3]], 0.0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }

    #[test]
    fn every_element_type_streams() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        stream::<f64>(&p, &[3], &[(1, &[0.1, 0.2])]);
        let a: ndarray::Array1<f64> = ndarray_npy::read_npy(&p).unwrap();
        assert_eq!(a.to_vec(), [0.0, 0.1, 0.2]);
        stream::<u8>(&p, &[2, 2], &[(1, &[7, 255])]);
        let a: Array2<u8> = ndarray_npy::read_npy(&p).unwrap();
        assert_eq!(a.into_raw_vec_and_offset().0, [0, 7, 255, 0]);
        stream::<i8>(&p, &[2, 2], &[(3, &[-5])]);
        let a: Array2<i8> = ndarray_npy::read_npy(&p).unwrap();
        assert_eq!(a.into_raw_vec_and_offset().0, [0, 0, 0, -5]);
    }

    #[test]
    fn zero_length_arrays_stream() {
        let dir = tempfile::tempdir().unwrap();
        for shape in [&[0][..], &[2, 0, 3], &[0, 0]] {
            let p = dir.path().join("z.npy");
            let mut s = NpyStream::<f32>::create(&p, shape).unwrap();
            s.write(0, &[]).unwrap();
            assert!(s.write(0, &[1.0]).is_err());
            assert!(s.read(0).is_err());
            s.persist().unwrap();
            let a: ArrayD<f32> = ndarray_npy::read_npy(&p).unwrap();
            assert_eq!(a.shape(), shape);
            let f = NpyFile::open(&p).unwrap();
            assert_eq!(f.shape(), shape);
            assert_eq!(f.read(0, 0).unwrap(), Vec::<f64>::new());
            assert!(f.read(0, 1).is_err());
        }
    }

    #[test]
    fn a_stream_too_large_to_address_is_refused_and_a_dropped_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let e = NpyStream::<f64>::create(&p, &[usize::MAX / 4, 4])
            .err()
            .unwrap();
        assert!(matches!(e, Error::TooLarge(_)), "{e}");
        let e = NpyStream::<f64>::create(&dir.path().join("no/such/dir/a.npy"), &[3])
            .err()
            .unwrap();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        let s = NpyStream::<f64>::create(&p, &[3]).unwrap();
        drop(s);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_large_stream_is_written_slice_by_slice() {
        // 50M f32 (200 MB) in slices of 1M, last slice first, never as one array in memory.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.npy");
        let (slices, slice) = (50, 1 << 20);
        let len = slices * slice;
        let mut s = NpyStream::<f32>::create(&p, &[2, 25, slice]).unwrap();
        let mut row = vec![0f32; slice];
        for k in (0..slices).rev() {
            for (i, x) in row.iter_mut().enumerate() {
                *x = (k * slice + i) as f32;
            }
            s.write(k * slice, &row).unwrap();
        }
        assert_eq!(s.read(len - 1).unwrap(), (len - 1) as f32);
        s.persist().unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 128 + 4 * len as u64);
        let f = NpyFile::open(&p).unwrap();
        assert_eq!(f.shape(), [2, 25, slice]);
        for at in [0, 1, slice - 1, slice, 31 * slice + 12345, len - 3] {
            assert_eq!(f.read(at, 3.min(len - at)).unwrap()[0], at as f32 as f64);
        }
    }

    /// A .npy file of any descriptor and order, its header written as NumPy writes it.
    fn npy_with(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
        let order = if fortran { "True" } else { "False" };
        let mut dict = format!(
            "{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {}, }}",
            tuple(shape)
        );
        dict.push_str(&" ".repeat(63 - (10 + dict.len()) % 64));
        dict.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn npy_file_reads_float64_and_float32_by_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let (w, n) = (dir.path().join("w.npy"), dir.path().join("n.npy"));
        let wide = Array2::from_shape_fn((3, 4), |(r, c)| r as f64 * 10.0 + c as f64 + 0.1);
        ndarray_npy::write_npy(&w, &wide).unwrap();
        ndarray_npy::write_npy(&n, &wide.mapv(|x| x as f32)).unwrap();
        let f = NpyFile::open(&w).unwrap();
        assert_eq!(f.shape(), [3, 4]);
        assert_eq!(f.read(5, 3).unwrap(), [11.1, 12.1, 13.1]);
        assert_eq!(f.read(11, 1).unwrap(), [23.1]);
        let f = NpyFile::open(&n).unwrap();
        assert_eq!(f.read(5, 2).unwrap(), [11.1f32 as f64, 12.1f32 as f64]);
        let e = f.read(10, 3).unwrap_err();
        assert!(
            matches!(e, Error::Input(_)) && e.to_string().contains("n.npy"),
            "{e}"
        );
        assert!(f.read(usize::MAX, 2).is_err());
        // A one-axis array marked Fortran order reads the same as C order.
        let one = dir.path().join("one.npy");
        std::fs::write(
            &one,
            npy_with("<f8", true, &[2], bytemuck::cast_slice(&[1.5f64, 2.5])),
        )
        .unwrap();
        assert_eq!(NpyFile::open(&one).unwrap().read(0, 2).unwrap(), [1.5, 2.5]);
    }

    #[test]
    fn npy_file_errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let f64s = bytemuck::cast_slice::<f64, u8>(&[1.0; 6]).to_vec();
        let cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
            ("missing.npy", None, "cannot read ("),
            ("empty.npy", Some(vec![]), "not a .npy file"),
            (
                "garbage.npy",
                Some(b"\x93NUMPY garbage".to_vec()),
                "not a .npy file",
            ),
            (
                "text.npy",
                Some(b"step,time\n1,2\n".to_vec()),
                "not a .npy file",
            ),
            (
                "int.npy",
                Some(npy_with("<i4", false, &[2, 3], &[0; 24])),
                "holds '<i4', expected little-endian float64, float32 or int8",
            ),
            (
                "big_endian.npy",
                Some(npy_with(">f8", false, &[2, 3], &f64s)),
                "holds '>f8', expected little-endian float64, float32 or int8",
            ),
            (
                "fortran.npy",
                Some(npy_with("<f8", true, &[2, 3], &f64s)),
                "is in Fortran order, expected C order",
            ),
            (
                "truncated.npy",
                Some(npy_with("<f8", false, &[2, 3], &f64s[..47])),
                "is truncated (shape [2, 3])",
            ),
            (
                "truncated32.npy",
                Some(npy_with("<f4", false, &[2, 3, 4], &f64s[..40])),
                "is truncated (shape [2, 3, 4])",
            ),
            (
                "huge.npy",
                Some(npy_with("<f8", false, &[usize::MAX, 2], &[])),
                "is truncated (shape [",
            ),
            (
                "extra.npy",
                Some(npy_with("<f8", false, &[5], &f64s)),
                "has 8 bytes after its data (shape [5])",
            ),
        ];
        for (name, bytes, expected) in cases {
            let path = dir.path().join(name);
            if let Some(b) = bytes {
                std::fs::write(&path, b).unwrap();
            }
            let e = NpyFile::open(&path).err().unwrap();
            let text = e.to_string();
            assert!(matches!(e, Error::Input(_)), "{text}");
            assert!(text.starts_with(&format!("{}: ", path.display())), "{text}");
            assert!(text.contains(expected), "{name}: {text}");
            assert_eq!(text.lines().count(), 1, "{text}");
        }
        // What ndarray-npy writes in Fortran order is refused too.
        let f = dir.path().join("f.npy");
        let a = Array2::from_shape_fn((2, 3), |(r, c)| (r + c) as f64);
        ndarray_npy::write_npy(&f, &a.t()).unwrap();
        let e = NpyFile::open(&f).err().unwrap();
        assert!(e.to_string().contains("Fortran order"), "{e}");
    }
}
