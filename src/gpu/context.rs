//! Adapter and device acquisition. The device is requested with the adapter's own limits (not
//! wgpu's conservative defaults) so that fine grids can bind large slices.

use crate::error::Error;

/// A device ready for the solvers, with what the adapter is. Cloning is cheap: wgpu's device
/// and queue are shared handles, so each scheme's solver keeps its own clone.
#[derive(Clone)]
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// Where the device's memory comes from and how much there is (see [`MemoryBudget`]).
    pub memory: MemoryBudget,
}

/// How much memory a solve may plan to allocate on a device. wgpu 30 reports no device memory
/// size (its limits are per buffer and per binding; `generate_allocator_report` and the
/// internal counters report what is allocated, not what could be), so the budget is derived
/// from the adapter:
/// - a CPU adapter (lavapipe/llvmpipe, SwiftShader, WARP) allocates host memory: its budget is
///   what `crate::resources::available_memory` says this process may still allocate, read when
///   a solve is checked (it changes). Its reported heap is not used: lavapipe reports a fixed
///   2 GiB whatever the host has, and allocates beyond it;
/// - a Vulkan GPU: its largest device-local memory heap (`VkPhysicalDeviceMemoryProperties`,
///   read through wgpu's hal; a buffer lives in one heap);
/// - otherwise unknown, and no total is checked (an allocation that fails is still an error:
///   see [`GpuContext::checked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryBudget {
    /// Host memory.
    Host,
    /// A dedicated heap of this many bytes.
    Heap(u64),
    Unknown,
}

impl MemoryBudget {
    fn of(adapter: &wgpu::Adapter, info: &wgpu::AdapterInfo) -> Self {
        if info.device_type == wgpu::DeviceType::Cpu {
            return MemoryBudget::Host;
        }
        match largest_device_local_heap(adapter) {
            Some(bytes) => MemoryBudget::Heap(bytes),
            None => MemoryBudget::Unknown,
        }
    }

    /// The bytes a solve may allocate now, or `None` where unknown.
    pub fn available(&self) -> Option<u64> {
        match *self {
            MemoryBudget::Host => crate::resources::available_memory(),
            MemoryBudget::Heap(bytes) => Some(bytes),
            MemoryBudget::Unknown => None,
        }
    }

    /// Whether the device's memory is the host's, so that what the host holds at the same
    /// time (the results read back) comes out of the same budget.
    pub fn shared_with_host(&self) -> bool {
        matches!(self, MemoryBudget::Host)
    }
}

/// The size of a Vulkan adapter's largest device-local memory heap, `None` on other backends.
#[cfg(any(target_os = "linux", target_os = "windows", target_os = "android"))]
fn largest_device_local_heap(adapter: &wgpu::Adapter) -> Option<u64> {
    // VK_MEMORY_HEAP_DEVICE_LOCAL_BIT.
    const DEVICE_LOCAL: u32 = 0x1;
    // SAFETY: the hal adapter is held (the guard) for the whole call, and
    // vkGetPhysicalDeviceMemoryProperties only reads properties of that valid physical device
    // from the instance that enumerated it.
    unsafe {
        let hal = adapter.as_hal::<wgpu::hal::api::Vulkan>()?;
        let instance = hal.shared_instance().raw_instance();
        let props = instance.get_physical_device_memory_properties(hal.raw_physical_device());
        let count = (props.memory_heap_count as usize).min(props.memory_heaps.len());
        props.memory_heaps[..count]
            .iter()
            .filter(|h| h.flags.as_raw() & DEVICE_LOCAL != 0)
            .map(|h| h.size)
            .max()
    }
}

#[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "android")))]
fn largest_device_local_heap(_adapter: &wgpu::Adapter) -> Option<u64> {
    None
}

/// What `mmgame info` and the summaries report about an adapter.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterReport {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_invocations_per_workgroup: u32,
    /// Whether kernels can compute in f64 (`SHADER_F64`).
    pub shader_f64: bool,
    /// Whether the GPU can time kernels and copies (`TIMESTAMP_QUERY` and
    /// `TIMESTAMP_QUERY_INSIDE_ENCODERS`).
    pub timestamp_query: bool,
}

impl AdapterReport {
    pub fn new(info: &wgpu::AdapterInfo, limits: &wgpu::Limits, features: wgpu::Features) -> Self {
        AdapterReport {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend).to_lowercase(),
            device_type: device_type(info.device_type).to_string(),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            shader_f64: features.contains(wgpu::Features::SHADER_F64),
            timestamp_query: features.contains(
                wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS,
            ),
        }
    }
}

pub fn device_type(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete",
        wgpu::DeviceType::IntegratedGpu => "integrated",
        wgpu::DeviceType::VirtualGpu => "virtual",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    }
}

fn instance() -> wgpu::Instance {
    // Honours WGPU_BACKEND (e.g. WGPU_BACKEND=vulkan) and wgpu's other environment variables.
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    // Where the driver reports a memory budget (Vulkan's VK_EXT_memory_budget), creating a
    // buffer beyond 95% of it is an out-of-memory error (caught by `GpuContext::checked`)
    // rather than an allocation that may lose the device or be killed by the host.
    let threshold = &mut descriptor.memory_budget_thresholds.for_resource_creation;
    threshold.get_or_insert(95);
    wgpu::Instance::new(descriptor)
}

/// Every adapter wgpu can see, with its limits.
pub fn adapters() -> Vec<AdapterReport> {
    let instance = instance();
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(|a| AdapterReport::new(&a.get_info(), &a.limits(), a.features()))
        .collect()
}

/// Whether a hardware (non-CPU) adapter is present: what `--backend auto` asks.
pub fn hardware_adapter_present() -> bool {
    adapters().iter().any(|a| a.device_type != "cpu")
}

impl GpuContext {
    /// Opens the first adapter whose name contains `name` (case-insensitive), or wgpu's
    /// high-performance choice when `name` is `None`.
    pub fn new(name: Option<&str>) -> Result<Self, Error> {
        let instance = instance();
        let adapter = match name {
            Some(wanted) => {
                let all = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
                let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
                all.into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&wanted.to_lowercase()))
                    .ok_or_else(|| {
                        Error::Gpu(format!(
                            "--adapter {wanted}: no such adapter (found: {})",
                            if names.is_empty() { "none".to_string() } else { names.join(", ") }
                        ))
                    })?
            }
            None => pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            }))
            .map_err(|e| {
                Error::Gpu(format!(
                    "no GPU adapter found ({e}); install a Vulkan driver (e.g. mesa-vulkan-drivers) or use --backend cpu"
                ))
            })?,
        };
        let info = adapter.get_info();
        let limits = adapter.limits();
        let memory = MemoryBudget::of(&adapter, &info);
        // f64 kernels (`--precision f64`) where the adapter has them; timestamp queries
        // (around passes and between commands) to split a sweep's time.
        let features = adapter.features()
            & (wgpu::Features::SHADER_F64
                | wgpu::Features::TIMESTAMP_QUERY
                | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("mmgame"),
            required_limits: limits.clone(),
            required_features: features,
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("cannot open a device on {}: {e}", info.name)))?;
        Ok(GpuContext {
            device,
            queue,
            info,
            limits,
            memory,
        })
    }

    /// Whether kernels can compute in `precision` on this device: f64 needs `SHADER_F64`.
    pub fn check_precision(&self, precision: crate::scheme::Precision) -> Result<(), Error> {
        if precision == crate::scheme::Precision::F64
            && !self.device.features().contains(wgpu::Features::SHADER_F64)
        {
            return Err(Error::Gpu(format!(
                "--precision f64: adapter {} has no f64 in shaders (SHADER_F64); use --precision f32 or the CPU",
                self.info.name
            )));
        }
        Ok(())
    }

    /// The largest storage binding (and buffer) this adapter allows.
    pub fn binding_limit(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// Whether kernels and copies can be timed on the device: timestamps around passes and
    /// between an encoder's commands.
    pub fn timestamps(&self) -> bool {
        let both =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        self.device.features().contains(both) && self.queue.get_timestamp_period() > 0.0
    }

    pub fn report(&self) -> AdapterReport {
        AdapterReport::new(&self.info, &self.limits, self.device.features())
    }

    /// Builds a compute pipeline from a kernel's full WGSL source (see `layout::kernel_source`)
    /// with the explicit bind-group layout of `bindings`; the entry point is the kernel's name.
    /// A shader the device rejects, or one whose declarations do not match `bindings`, is an
    /// error, not a panic.
    pub fn pipeline(
        &self,
        name: &str,
        source: String,
        bindings: super::layout::Bindings,
    ) -> Result<wgpu::ComputePipeline, Error> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let group = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(name),
                entries: &super::layout::layout_entries(bindings),
            });
        let layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(name),
                bind_group_layouts: &[Some(&group)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&layout),
                module: &module,
                entry_point: Some(name),
                compilation_options: Default::default(),
                cache: None,
            });
        match pollster::block_on(scope.pop()) {
            None => Ok(pipeline),
            Some(e) => Err(Error::Gpu(format!(
                "kernel {name} rejected by {}: {e}",
                self.info.name
            ))),
        }
    }

    /// A buffer holding `contents`.
    pub fn buffer_init(
        &self,
        label: &str,
        contents: &[u8],
        usage: wgpu::BufferUsages,
    ) -> wgpu::Buffer {
        use wgpu::util::DeviceExt;
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
    }

    /// A bind group of `buffers` at bindings 0, 1, … of `pipeline`'s group 0.
    pub fn bind_group(
        &self,
        label: Option<&str>,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    /// A zero-initialised buffer of `size` bytes.
    pub fn buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        })
    }

    /// Runs `work` and turns any validation or out-of-memory error it raises on the device
    /// into an `Error` (wgpu would otherwise panic in its default handler).
    pub fn checked<R>(&self, what: &str, work: impl FnOnce() -> R) -> Result<R, Error> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let r = work();
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        match o.or(v) {
            None => Ok(r),
            Some(e) => Err(Error::Gpu(format!("{what} on {}: {e}", self.info.name))),
        }
    }

    /// Waits until the queue is idle.
    pub fn wait(&self) -> Result<(), Error> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))
    }

    /// Copies the first `size` bytes of `source` back to the host as elements of `T`.
    pub fn read_buffer<T: bytemuck::Pod>(
        &self,
        source: &wgpu::Buffer,
        size: u64,
    ) -> Result<Vec<T>, Error> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(source, 0, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|_| Error::Gpu("the GPU never answered a readback".into()))?
            .map_err(|e| Error::Gpu(format!("reading back from the GPU: {e}")))?;
        let data = bytemuck::pod_collect_to_vec(
            &slice
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("reading back from the GPU: {e}")))?,
        );
        staging.unmap();
        Ok(data)
    }
}
