//! What a grid would take on a GPU whose kernels ran at their bound, from the bytes and flops
//! counted per cell update ([`super::bench::work_per_update`]): the kernel time at a device's
//! memory bandwidth (and at its arithmetic peak, where stated), and the time to move each
//! step's results to the host and to disk. `mmgame bench` prints it for the device it measured
//! (at the measured copy bandwidth) and for named reference devices, so the bottleneck on a
//! real GPU can be read off a run on any adapter (lavapipe included).

use super::bench::{GridSize, Work};
use crate::config::Scheme;
use crate::scheme::Precision;

/// Host link bandwidth assumed for the reference devices: a PCIe 4.0 ×16 slot moves about
/// 25 GB/s device-to-host in practice (32 GB/s nominal).
pub const HOST_LINK_BYTES_PER_S: f64 = 25e9;

/// Disk write bandwidth assumed for the reference devices: one NVMe SSD's sequential writes.
pub const DISK_BYTES_PER_S: f64 = 2e9;

/// A device the projection is made for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceDevice {
    pub name: &'static str,
    /// Memory bandwidth, bytes per second (read + written).
    pub bandwidth: f64,
    /// Peak f32 operations per second (non-tensor), where stated.
    pub flops: Option<f64>,
    /// Device-to-host bytes per second.
    pub host_link: f64,
    /// Disk write bytes per second.
    pub disk: f64,
}

/// The named reference devices: an H100 (SXM, HBM3) and a workstation card with about 1 TB/s
/// (an RTX 6000 Ada: 960 GB/s, 91 TFLOPS f32), both on PCIe 4.0 with an NVMe disk.
pub const REFERENCE_DEVICES: [ReferenceDevice; 2] = [
    ReferenceDevice {
        name: "H100 (3.0 TB/s, 67 TFLOPS f32)",
        bandwidth: 3.0e12,
        flops: Some(67e12),
        host_link: HOST_LINK_BYTES_PER_S,
        disk: DISK_BYTES_PER_S,
    },
    ReferenceDevice {
        name: "workstation (1.0 TB/s, 91 TFLOPS f32)",
        bandwidth: 1.0e12,
        flops: Some(91e12),
        host_link: HOST_LINK_BYTES_PER_S,
        disk: DISK_BYTES_PER_S,
    },
];

/// What a solve of `scheme` on a grid moves: through the device's memory, back to the host and
/// to disk (`mmgame solve`'s default files).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    pub cell_updates: f64,
    /// Bytes of grid arrays through device memory: cell updates × `Work::array_bytes`.
    pub array_bytes: f64,
    pub flops: f64,
    /// Bytes read back to the host.
    pub readback_bytes: f64,
    /// Bytes written to disk.
    pub disk_bytes: f64,
}

impl Traffic {
    /// `iterations`: the notebook scheme's policy iterations (1 for `equilibrium`).
    ///
    /// `equilibrium` (GPU pipeline): each of the time_points − 1 steps reads back one pair
    /// code (1 byte) per state, and policy.npy holds 1 byte per action (2 per state) at every
    /// time point, values.npy the t = 0 slice (2 values per state in `precision`).
    /// `notebook`: the values and actions of every time point are read back once, after the
    /// iterations (values in `precision`, actions 1 byte each), and written as values.npy and
    /// policy.npy.
    pub fn of(
        scheme: Scheme,
        grid: GridSize,
        work: &Work,
        precision: Precision,
        iterations: usize,
    ) -> Traffic {
        let slice = (grid.fee_points * grid.stake_points * grid.stake_points) as f64;
        let (nt, r) = (grid.time_points as f64, precision.bytes() as f64);
        let steps = (nt - 1.0).max(0.0);
        let cell_updates = slice * steps * iterations.max(1) as f64;
        let (readback_bytes, disk_bytes) = match scheme {
            Scheme::Equilibrium => (slice * steps, 2.0 * slice * nt + 2.0 * slice * r),
            Scheme::Notebook => {
                let all = 2.0 * slice * nt * (r + 1.0);
                (all, all)
            }
        };
        Traffic {
            cell_updates,
            array_bytes: cell_updates * work.array_bytes as f64,
            flops: cell_updates * work.flops as f64,
            readback_bytes,
            disk_bytes,
        }
    }
}

/// What bounds a projected run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Memory bandwidth of the kernels.
    Memory,
    /// Arithmetic of the kernels.
    Compute,
    /// Moving the results to the host.
    Transfer,
    Disk,
}

impl Bound {
    pub fn name(self) -> &'static str {
        match self {
            Bound::Memory => "memory bandwidth",
            Bound::Compute => "arithmetic",
            Bound::Transfer => "host transfer",
            Bound::Disk => "disk",
        }
    }
}

/// A run's projected seconds on one device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// The kernels at the memory bandwidth.
    pub memory_seconds: f64,
    /// The kernels at the arithmetic peak (`None` where no peak is stated).
    pub compute_seconds: Option<f64>,
    pub transfer_seconds: f64,
    pub disk_seconds: f64,
}

impl Projection {
    pub fn on(traffic: &Traffic, device: &ReferenceDevice) -> Projection {
        Projection {
            memory_seconds: traffic.array_bytes / device.bandwidth,
            compute_seconds: device.flops.map(|f| traffic.flops / f),
            transfer_seconds: traffic.readback_bytes / device.host_link,
            disk_seconds: traffic.disk_bytes / device.disk,
        }
    }

    /// The kernels' bound: the larger of memory and arithmetic.
    pub fn kernel_seconds(&self) -> f64 {
        self.memory_seconds.max(self.compute_seconds.unwrap_or(0.0))
    }

    /// The run with kernels, transfers and disk writes overlapped (the pipelined GPU sweep):
    /// the slowest of the three.
    pub fn overlapped_seconds(&self) -> f64 {
        self.kernel_seconds()
            .max(self.transfer_seconds)
            .max(self.disk_seconds)
    }

    /// The run with nothing overlapped: their sum.
    pub fn serial_seconds(&self) -> f64 {
        self.kernel_seconds() + self.transfer_seconds + self.disk_seconds
    }

    /// The largest part.
    pub fn bound(&self) -> Bound {
        let parts = [
            (self.memory_seconds, Bound::Memory),
            (self.compute_seconds.unwrap_or(0.0), Bound::Compute),
            (self.transfer_seconds, Bound::Transfer),
            (self.disk_seconds, Bound::Disk),
        ];
        parts
            .into_iter()
            .fold((f64::MIN, Bound::Memory), |best, p| {
                if p.0 > best.0 {
                    p
                } else {
                    best
                }
            })
            .1
    }
}

/// One grid projected on every reference device.
#[derive(Debug, Clone)]
pub struct GridProjection {
    pub grid: GridSize,
    pub precision: Precision,
    pub work: Work,
    pub traffic: Traffic,
    pub devices: Vec<(ReferenceDevice, Projection)>,
}

/// `grid` under `scheme` on the GPU in `precision` on each of [`REFERENCE_DEVICES`].
pub fn project(
    scheme: Scheme,
    grid: GridSize,
    precision: Precision,
    iterations: usize,
) -> Result<GridProjection, crate::error::Error> {
    let work = super::bench::work_per_update(scheme, crate::api::Resolved::Gpu, precision)?;
    let traffic = Traffic::of(scheme, grid, &work, precision, iterations);
    // The stated peaks are f32 ones: f64 kernels get no arithmetic bound.
    let devices = REFERENCE_DEVICES
        .iter()
        .map(|d| {
            let d = match precision {
                Precision::F32 => *d,
                Precision::F64 => ReferenceDevice { flops: None, ..*d },
            };
            (d, Projection::on(&traffic, &d))
        })
        .collect();
    Ok(GridProjection {
        grid,
        precision,
        work,
        traffic,
        devices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equilibrium_on_the_reference_devices() {
        // 201 × 801² = 128,961,801 states per step, 100 steps; f32, the stencil kernel: 65 B
        // and 292 flops per cell update.
        let g = project(
            Scheme::Equilibrium,
            GridSize::new(201, 801, 101),
            Precision::F32,
            1,
        )
        .unwrap();
        let slice = 128_961_801.0;
        assert_eq!(g.work.array_bytes, 65);
        assert_eq!(g.work.flops, 292);
        assert_eq!(g.traffic.cell_updates, slice * 100.0);
        assert_eq!(g.traffic.array_bytes, slice * 100.0 * 65.0);
        assert_eq!(g.traffic.readback_bytes, slice * 100.0);
        assert_eq!(g.traffic.disk_bytes, slice * 202.0 + slice * 8.0);
        let (_, h100) = g.devices[0];
        assert_eq!(h100.memory_seconds, slice * 6500.0 / 3.0e12);
        assert_eq!(h100.compute_seconds, Some(slice * 29_200.0 / 67e12));
        assert_eq!(h100.transfer_seconds, slice * 100.0 / 25e9);
        assert_eq!(h100.disk_seconds, slice * 210.0 / 2e9);
        assert_eq!(h100.bound(), Bound::Disk);
        assert_eq!(h100.overlapped_seconds(), h100.disk_seconds);
        let (_, ws) = g.devices[1];
        assert_eq!(ws.memory_seconds, slice * 6500.0 / 1.0e12);
        assert_eq!(
            ws.kernel_seconds(),
            ws.memory_seconds.max(slice * 29_200.0 / 91e12)
        );
    }

    #[test]
    fn the_largest_part_bounds_a_run() {
        let p = Projection {
            memory_seconds: 2.0,
            compute_seconds: Some(3.0),
            transfer_seconds: 1.0,
            disk_seconds: 0.5,
        };
        assert_eq!(p.bound(), Bound::Compute);
        assert_eq!(p.kernel_seconds(), 3.0);
        assert_eq!(p.overlapped_seconds(), 3.0);
        assert_eq!(p.serial_seconds(), 4.5);
        let notebook = Traffic::of(
            Scheme::Notebook,
            GridSize::new(15, 15, 5),
            &Work {
                array_bytes: 56,
                table_bytes: 0,
                flops: 28,
            },
            Precision::F32,
            10,
        );
        assert_eq!(notebook.cell_updates, 3375.0 * 4.0 * 10.0);
        assert_eq!(notebook.readback_bytes, 2.0 * 3375.0 * 5.0 * 5.0);
    }
}
